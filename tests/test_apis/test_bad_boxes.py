"""Boxes the inference API refuses (normalised, far larger than the image, outside it,
non-finite, x2 < x1), and drawing that clips what lies far outside the image instead of
overflowing cv2's fixed-point coordinates."""
import importlib.util
import os.path as osp

import cv2
import numpy as np
import pytest

from mmhandmim.apis import BoxError, InferenceInputError, inference_mesh_model, init_mesh_model
from mmhandmim.apis.checks import check_bboxes
from mmhandmim.utils.errors import UserInputError
from mmhandmim.visualization import draw_keypoints
from mmhandmim.visualization.draw import clip_segments

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SHAPE = (300, 400)  # H, W


@pytest.mark.parametrize('box, message', [
    ([0.1, 0.2, 0.5, 0.9], r'box 0 \[0.1, 0.2, 0.5, 0.9\] looks normalised \(all coordinates '
     r'<= 1.5 on a 400x300 image\): boxes are pixels xyxy; multiply by the image size \(x by '
     r'400, y by 300\)'),
    ([-1e6, -1e6, 1e6, 1e6], r'box 0 .* is 2e\+06x2e\+06 pixels, more than 10 times the '
     r'400x300 image'),
    ([500, 10, 600, 100], r'box 0 \[500, 10, 600, 100\] is outside the 400x300 image'),
    ([10, 10, np.inf, 50], r'box 0 .* has non-finite coordinates'),
    ([np.nan, 10, 20, 50], r'box 0 .* has non-finite coordinates'),
])
def test_bad_box_is_refused(box, message):
    with pytest.raises(BoxError, match=message) as exc:
        check_bboxes([box], SHAPE)
    assert '\n' not in str(exc.value)
    assert isinstance(exc.value, InferenceInputError) and isinstance(exc.value, UserInputError)


def test_reversed_box_is_named():
    with pytest.raises(BoxError, match=r'box 1 \[90, 10, 30, 50\] is empty: need x2 > x1'):
        check_bboxes([[20, 20, 120, 140], [90, 10, 30, 50]], SHAPE)


@pytest.mark.parametrize('box', [
    [-150, -100, 250, 200],  # a hand spilling out of the top-left corner
    [-1500, -1000, 2500, 2000],  # 10 times the image's longer side: still accepted
    [1, 1, 1.4, 1.4],  # a tiny box (nonsense, but pixels) on a tiny image is not "normalised"
])
def test_legitimate_boxes_pass(box):
    shape = (20, 24) if box[2] < 2 else SHAPE
    np.testing.assert_array_equal(check_bboxes([box], shape), [box])


def test_clip_segments_by_hand():
    start = np.array([[10., 10.], [-50., 5.], [5., -1e12], [500., 500.], [20., 30.]])
    end = np.array([[1e12, 10.], [50., 5.], [5., 1e12], [600., 700.], [40., 60.]])
    s, e, keep = clip_segments(start, end, (0, 0), (100, 80))
    np.testing.assert_array_equal(keep, [True, True, True, False, True])
    np.testing.assert_allclose(s[:3], [[10, 10], [0, 5], [5, 0]])
    np.testing.assert_allclose(e[:3], [[100, 10], [50, 5], [5, 80]])
    assert (s[4] == start[4]).all() and (e[4] == end[4]).all()  # inside: bit-identical


def test_keypoints_far_outside_draw_what_is_inside():
    image = np.zeros((60, 80, 3), np.uint8)
    kpts = np.array([[10.5, 20.5], [1e12, 20.5], [-3e9, -3e9], [40.5, 30.5]])
    links = [(0, 1), (0, 2), (0, 3)]
    out = draw_keypoints(image, kpts, links=links, radius=1, thickness=1, center_offset=0.5,
                         link_colors=[(0, 0, 255), (0, 255, 0), (255, 0, 0)])
    # by hand: the same picture with the far points replaced by where their links leave the
    # 4-pixel margin (radius + thickness + 2) around the image: the horizontal link at
    # x = 80 + 4; the diagonal one, from (10.5, 20.5) towards (-3e9, -3e9), at x = -4 (it is
    # 14.5 px from that side and 24.5 px from y = -4)
    ref = image.copy()
    fixed = lambda p: (int(round((p[0] - 0.5) * 16)), int(round((p[1] - 0.5) * 16)))  # noqa
    t = 14.5 / (3e9 + 10.5)
    diag_end = (-4.0, 20.5 + t * (-3e9 - 20.5))
    for (a, b), color in zip([((10.5, 20.5), (84.0, 20.5)), ((10.5, 20.5), diag_end),
                              ((10.5, 20.5), (40.5, 30.5))],
                             [(0, 0, 255), (0, 255, 0), (255, 0, 0)]):
        cv2.line(ref, fixed(a), fixed(b), color, 1, cv2.LINE_AA, 4)
    for p in ((10.5, 20.5), (40.5, 30.5)):
        cv2.circle(ref, fixed(p), 16, (0, 255, 255), -1, cv2.LINE_AA, 4)
    np.testing.assert_array_equal(out, ref)
    assert (out[20, 60:, 2] > 200).all()  # the red link reaches the image's right edge


def _demo():
    spec = importlib.util.spec_from_file_location('image_demo_boxes',
                                                  osp.join(ROOT, 'demo', 'image_demo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def model(tiny_ckpt):
    return init_mesh_model(*tiny_ckpt)


def test_api_refuses_normalised_box_and_draws_partly_outside_box(model):
    image = (np.random.default_rng(0).random(SHAPE + (3, )) * 255).astype(np.uint8)
    with pytest.raises(BoxError, match='multiply by the image size'):
        inference_mesh_model(model, image, [[0.1, 0.2, 0.5, 0.9]])
    hands = inference_mesh_model(model, image, [[-150, -100, 250, 200]])
    hands[0]['keypoints'][:4] = [[1e12, 5.0], [-1e11, 1e11], [3e9, -2e9], [7.0, 1e13]]
    overlay, side = _demo().render(image, hands)  # used to fail inside cv2.line
    assert overlay.shape == image.shape and (overlay != image).any()


def test_demo_refuses_normalised_box_in_one_line(tiny_ckpt, freihand_tiny, tmp_path, capsys):
    cfg, ckpt = tiny_ckpt
    img = osp.join(freihand_tiny, 'evaluation', 'rgb', '00000000.jpg')
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        _demo().main([cfg, ckpt, img, '--bbox', '0.1', '0.1', '0.6', '0.8', '--out-dir',
                      str(tmp_path / 'out')])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert exc.value.code == 2 and len(lines) == 1, err
    assert lines[0].startswith('image_demo.py: error: ') and img in lines[0]
    assert 'looks normalised' in lines[0] and 'multiply by the image size (x by 96' in lines[0]
    assert not (tmp_path / 'out' / '00000000_overlay.png').exists()
