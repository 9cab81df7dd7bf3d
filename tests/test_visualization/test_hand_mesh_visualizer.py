"""HandMeshLocalVisualizer: the mesh lands where its vertices project (with the original K
recovered from the crop's), keypoints and the ground truth (packed in the crop) in the
original image, files and backends, registry and the light import of mmhandmim.visualization."""
import glob
import math
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
from mmengine.structures import InstanceData
from mmpose.structures import PoseDataSample

from mmhandmim.engine.hand_mesh_visualizer import HandMeshLocalVisualizer, source_intrinsics
from mmhandmim.structures import project, warp_camera
from mmhandmim.visualization.primitives import uv_sphere

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
H, W = 96, 112
K = np.array([[140.0, 0.0, 50.0], [0.0, 140.0, 44.0], [0.0, 0.0, 1.0]])
_names = iter(range(10 ** 6))


def visualizer(**kw):
    return HandMeshLocalVisualizer(name=f'test_hmv_{next(_names)}', **kw)


def sphere(center=(0.02, 0.01, 0.6), radius=0.06):
    v, f = uv_sphere(10, 16)
    return v * radius + np.asarray(center), f


def crop_warp(angle_deg=30.0, scale=0.7, t=(5.0, -8.0)):
    """A similarity source -> crop warp as MeshTopdownAffine makes (rotation included)."""
    a = math.radians(angle_deg)
    return np.array([[scale * math.cos(a), -scale * math.sin(a), t[0]],
                     [scale * math.sin(a), scale * math.cos(a), t[1]]])


def background(seed=0):
    return np.random.default_rng(seed).integers(0, 256, (H, W, 3), dtype=np.uint8)


def sample(pred=None, gt=None, warp=None, K_source=K):
    """A data sample packed like PackMeshInputs: cam_K (and GT) in the crop when warped."""
    ds = PoseDataSample()
    meta = dict(img_path='x.png')
    K_packed, R = (K_source, np.eye(3)) if warp is None else warp_camera(warp, K_source)
    if warp is not None:
        meta['warp_mat'] = warp
    ds.set_metainfo(meta)
    gt_inst = InstanceData(cam_K=K_packed[None])
    for key, value in (gt or {}).items():
        if key == 'vertices':       # source camera -> crop camera
            value = value @ R.T
        if key == 'keypoints' and warp is not None:  # source pixels -> crop pixels
            value = value @ warp[:, :2].T + warp[:, 2]
        gt_inst.set_field(np.asarray(value)[None], key)
    ds.gt_instances = gt_inst
    if pred is not None:
        ds.pred_instances = InstanceData(**{k: np.asarray(v)[None] for k, v in pred.items()})
    return ds


def changed(a, b):
    return (a != b).any(axis=2)


def test_source_intrinsics_undo_the_crop():
    warp = crop_warp()
    np.testing.assert_allclose(source_intrinsics(sample(warp=warp)), K, atol=1e-9)
    np.testing.assert_allclose(source_intrinsics(sample()), K)  # no warp: K as packed
    assert source_intrinsics(PoseDataSample()) is None


def test_mesh_changes_pixels_only_inside_the_projected_bbox():
    v, f = sphere()
    img = background()
    vis = visualizer(faces=f)
    out = vis.add_datasample('m', img, sample(pred=dict(vertices=v), warp=crop_warp()),
                             draw_gt=False)
    assert out.shape == img.shape and out.dtype == np.uint8
    uv = project(v, K)
    x0, y0 = np.floor(uv.min(0)).astype(int)
    x1, y1 = np.ceil(uv.max(0)).astype(int)
    diff = changed(out, img)
    inside = np.zeros_like(diff)
    inside[y0:y1, x0:x1] = True
    assert diff.sum() > 0.5 * inside.sum()       # a disc fills ~pi/4 of its box
    assert not diff[~inside].any(), 'pixels changed outside the projected mesh'
    cu, cv_ = project(v.mean(0, keepdims=True), K)[0]
    assert diff[int(cv_), int(cu)], 'the projected centroid is not drawn'
    # the K recovered from the crop is the source K: same pixels as drawing with it directly
    np.testing.assert_array_equal(out, vis.draw_mesh(img, v, K))


def test_keypoints_drawn_at_their_pixels_with_skeleton():
    v, _ = sphere()
    kpts = project(v[np.linspace(0, len(v) - 1, 21).astype(int)], K)
    img = np.zeros((H, W, 3), np.uint8)
    vis = visualizer(radius=2)
    out = vis.add_datasample('k', img, sample(pred=dict(keypoints=kpts)), draw_gt=False)
    diff = changed(out, img)
    for u, w in kpts:
        assert diff[int(w), int(u)]
    ys, xs = np.nonzero(diff)
    reach = 2 + 3  # radius + the anti-aliased fringe
    assert xs.min() >= kpts[:, 0].min() - reach and xs.max() <= kpts[:, 0].max() + reach
    assert ys.min() >= kpts[:, 1].min() - reach and ys.max() <= kpts[:, 1].max() + reach
    # the skeleton: a link's midpoint is drawn
    i, j = vis._links(21)[5]
    mid = (kpts[i] + kpts[j]) / 2
    assert diff[int(mid[1]), int(mid[0])]
    # low-score keypoints are skipped (kpt_thr), with their links
    scores = np.zeros(21)
    out = vis.add_datasample('k', img, sample(pred=dict(keypoints=kpts,
                                                        keypoint_scores=scores)),
                             draw_gt=False)
    assert not changed(out, img).any()


def test_ground_truth_beside_prediction_in_the_source_image():
    v, f = sphere()
    kpts = project(v[np.linspace(0, len(v) - 1, 21).astype(int)], K)
    img = background(1)
    warp = crop_warp(-40.0, 1.3)
    ds = sample(pred=dict(vertices=v, keypoints=kpts),
                gt=dict(vertices=v, keypoints=kpts, keypoints_visible=np.ones(21),
                        has_verts=np.ones(1)), warp=warp)
    vis = visualizer(faces=f, kpt_color=(0, 255, 0))
    out = vis.add_datasample('gt', img, ds)
    assert out.shape == (H, 2 * W, 3)
    gt_panel, pred_panel = out[:, :W], out[:, W:]
    # the GT mesh (packed in the crop camera) covers the same pixels as the prediction
    gt_mesh = changed(gt_panel, img) & (gt_panel != (0, 255, 0)).any(2)
    pred_mesh = changed(pred_panel, img) & (pred_panel != (0, 255, 0)).any(2)
    assert pred_mesh.sum() > 100 and (gt_mesh ^ pred_mesh).mean() < 0.02
    # its keypoints (packed in crop pixels) come back to the source pixels
    for u, w in kpts:
        assert (gt_panel[int(w), int(u)] == (0, 255, 0)).all()
    # in another colour than the prediction
    assert not np.array_equal(gt_panel[gt_mesh & pred_mesh], pred_panel[gt_mesh & pred_mesh])
    # GT without vertices (has_verts 0) or invisible keypoints: nothing drawn on the left
    ds.gt_instances.has_verts = np.zeros(1)
    ds.gt_instances.keypoints_visible = np.zeros((1, 21))
    out = vis.add_datasample('gt', img, ds, draw_pred=False)
    np.testing.assert_array_equal(out, img)


def test_out_file_and_backends(tmp_path):
    v, f = sphere()
    img = background(2)
    vis = HandMeshLocalVisualizer.get_instance(
        f'test_hmv_{next(_names)}', faces=f, vis_backends=[dict(type='LocalVisBackend')],
        save_dir=str(tmp_path / 'backend'))
    ds = sample(pred=dict(vertices=v))
    out_file = str(tmp_path / 'sub' / 'drawn.png')
    out = vis.add_datasample('f', img, ds, draw_gt=False, out_file=out_file)
    np.testing.assert_array_equal(cv2.imread(out_file)[..., ::-1], out)
    assert not glob.glob(str(tmp_path / 'backend' / '**' / '*.png'), recursive=True)
    vis.add_datasample('tagged', img, ds, draw_gt=False, step=7)
    saved = glob.glob(str(tmp_path / 'backend' / '**' / 'tagged_7.png'), recursive=True)
    assert len(saved) == 1
    np.testing.assert_array_equal(cv2.imread(saved[0])[..., ::-1], out)


def test_bad_inputs():
    v, f = sphere()
    img = background()
    with pytest.raises(ValueError, match='no mesh faces'):
        visualizer().add_datasample('x', img, sample(pred=dict(vertices=v)))
    with pytest.raises(ValueError, match='faces'):
        visualizer(faces=np.zeros((4, 2), int))
    with pytest.raises(ValueError, match='mesh_alpha'):
        visualizer(mesh_alpha=2.0)
    bad = v.copy()
    bad[0] = np.nan
    with pytest.warns(UserWarning, match='non-finite'):
        out = visualizer(faces=f).add_datasample('x', img, sample(pred=dict(vertices=bad)),
                                                 draw_gt=False)
    np.testing.assert_array_equal(out, img)
    # without any intrinsics the mesh is skipped with a warning; keypoints still drawn
    ds = sample(pred=dict(vertices=v))
    del ds.gt_instances.cam_K
    with pytest.warns(UserWarning, match='no cam_K'):
        out = visualizer(faces=f).add_datasample('x', img, ds, draw_gt=False)
    np.testing.assert_array_equal(out, img)


def test_registered_and_built_from_config(mmpose_scope):
    from mmpose.registry import VISUALIZERS
    vis = VISUALIZERS.build(dict(type='HandMeshLocalVisualizer', name=f'reg_{next(_names)}',
                                 mesh_alpha=0.5))
    assert isinstance(vis, HandMeshLocalVisualizer) and vis.mesh_alpha == 0.5


def test_visualization_package_import_stays_light():
    code = ('import sys, mmhandmim.visualization as v; '
            'assert "mmengine" not in sys.modules and "mmpose" not in sys.modules')
    env = dict(os.environ, MMHANDMIM_LIGHT_IMPORT='1')
    res = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
