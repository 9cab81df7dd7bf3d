"""Inference API: equals the dataset pipeline + test_step, left hands are exact mirrors,
outputs are consistent in the original camera, defaults and bad inputs."""
import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate

from mmhandmim.apis import (DEFAULT_FOCAL_FACTOR, InferenceInputError, inference_mesh_model,
                            init_mesh_model)
from mmhandmim.structures import project

from .conftest import tiny_config

#: predicted arrays every hand carries
ARRAYS = ('keypoints', 'keypoints_3d', 'vertices', 'mano_pose', 'mano_betas', 'cam', 'cam_t')
# a non-centred K with fx != fy, so mix-ups of cx, W - cx or the axes show
K_ODD = np.array([[250.0, 0.0, 50.0], [0.0, 262.0, 41.0], [0.0, 0.0, 1.0]])


@pytest.fixture(scope='module')
def model(tiny_ckpt):
    return init_mesh_model(*tiny_ckpt)


@pytest.fixture(scope='module')
def image(freihand_tiny):
    """A generated hand image widened to 96 x 120 (non-square: W and H mix-ups show)."""
    img = cv2.imread(f'{freihand_tiny}/evaluation/rgb/00000000.jpg')
    return np.ascontiguousarray(np.pad(img, ((0, 0), (4, 20), (0, 0)), mode='edge'))


def assert_same(a, b, atol=1e-6, rtol=1e-5):
    for key in ARRAYS:
        np.testing.assert_allclose(a[key], b[key], atol=atol, rtol=rtol, err_msg=key)


def mirrored(hand, W):
    """What the mirror of ``hand`` (a hand of the flipped image) must look like."""
    out = {k: np.array(hand[k], np.float64, copy=True) for k in ARRAYS}
    out['keypoints'][:, 0] = W - out['keypoints'][:, 0]
    for key in ('keypoints_3d', 'vertices'):
        out[key][:, 0] *= -1
    out['cam_t'][0] *= -1
    out['cam'][1] *= -1
    return out


def signed_volume(vertices, faces):
    v = np.asarray(vertices, np.float64)[faces]
    return np.linalg.det(v).sum() / 6.0


def test_equals_dataset_pipeline_and_test_step(model, freihand_tiny, mmpose_scope):
    """Same image, box and K as a dataset sample: the API returns what test_step predicts
    for the sample packed by the dataset's own pipeline."""
    from mmpose.registry import DATASETS
    ds = DATASETS.build(dict(type='FreiHANDMeshDataset', data_root=freihand_tiny,
                             split='evaluation', image_size=96,
                             pipeline=tiny_config().test_dataloader.dataset.pipeline))
    with torch.no_grad():
        expected = model.test_step(pseudo_collate([ds[i] for i in range(3)]))
    for i, sample in enumerate(expected):
        info = ds.get_data_info(i)
        hand, = inference_mesh_model(model, info['img_path'], bboxes=info['bbox'],
                                     cam_K=info['cam_K'][0])
        pred = sample.pred_instances
        assert_same(hand, {k: pred.get(k)[0] for k in ARRAYS})
        np.testing.assert_array_equal(hand['bbox'], info['bbox'][0])
        assert hand['hand_side'] == 'right'


def test_batches_equal_single_boxes(model, image):
    boxes = [[10, 5, 70, 80], [40, 20, 110, 90], [0, 0, 120, 96]]
    sides = ['right', 'left', True]
    together = inference_mesh_model(model, image, boxes, sides, K_ODD, batch_size=2)
    for box, side, hand in zip(boxes, sides, together):
        single, = inference_mesh_model(model, image, [box], [side], K_ODD)
        # float32 GEMMs round differently for batch 2 and batch 1 (measured: 7e-6 px on
        # pixel coordinates of ~70, one float32 ulp there is 7.6e-6): compare at a few ulps of
        # the values' scale; a box or side mix-up moves points by far more (asserted below)
        assert_same(hand, single, atol=5e-5)
    # different boxes give different hands (the check above is not vacuous)
    assert np.abs(together[0]['keypoints_3d'] - together[2]['keypoints_3d']).max() > 1e-3


def test_left_hand_is_the_mirror_of_the_right_hand(model, image):
    """A right hand in the image and the same hand as a left one in the mirrored image (with
    the mirrored camera) give mirrored estimates, in one mixed batch both ways."""
    H, W = image.shape[:2]
    boxes = np.array([[10, 5, 70, 80], [37, 12, 111, 90]], np.float64)
    flipped_boxes = np.stack([W - boxes[:, 2], boxes[:, 1], W - boxes[:, 0], boxes[:, 3]], 1)
    K_flip = K_ODD.copy()
    K_flip[0, 2] = W - K_ODD[0, 2]  # pixel u -> W - u, camera X -> -X
    direct = inference_mesh_model(model, image, boxes, ['right', 'left'], K_ODD)
    mirror = inference_mesh_model(model, np.ascontiguousarray(image[:, ::-1]), flipped_boxes,
                                  ['left', 'right'], K_flip)
    for a, b in zip(direct, mirror):
        assert a['hand_side'] != b['hand_side']
        assert_same(a, mirrored(b, W), atol=2e-5)
        np.testing.assert_array_equal(b['bbox'], [W - a['bbox'][2], a['bbox'][1],
                                                  W - a['bbox'][0], a['bbox'][3]])
        # mirrored vertices with reversed faces keep the surface's orientation (normals out)
        np.testing.assert_allclose(signed_volume(a['vertices'], a['faces']),
                                   signed_volume(b['vertices'], b['faces']), rtol=1e-4)
    np.testing.assert_array_equal(direct[1]['faces'], direct[0]['faces'][:, ::-1])


@pytest.mark.parametrize('sides', [['right', 'right'], ['left', 'left']])
def test_outputs_agree_in_the_original_camera(model, image, sides):
    """Projecting the returned 3D keypoints with the given K lands on the returned 2D ones,
    for right and (mirrored) left hands, and the hand is in front of the camera inside its
    box region."""
    boxes = [[10, 5, 70, 80], [37, 12, 111, 90]]
    for hand in inference_mesh_model(model, image, boxes, sides, K_ODD):
        np.testing.assert_allclose(project(hand['keypoints_3d'].astype(np.float64), K_ODD),
                                   hand['keypoints'], atol=1e-3)
        np.testing.assert_allclose(hand['keypoints_3d'][0], hand['cam_t'], atol=1e-6)
        assert (hand['vertices'][:, 2] > 0).all()
        np.testing.assert_array_equal(hand['cam_K'], K_ODD)


def test_whole_image_and_default_camera(model, image):
    H, W = image.shape[:2]
    hand, = inference_mesh_model(model, image)
    f = DEFAULT_FOCAL_FACTOR * max(H, W)
    np.testing.assert_array_equal(hand['bbox'], [0, 0, W, H])
    np.testing.assert_allclose(hand['cam_K'], [[f, 0, W / 2], [0, f, H / 2], [0, 0, 1]])
    explicit, = inference_mesh_model(model, image, [[0, 0, W, H]], 'right', hand['cam_K'])
    assert_same(hand, explicit, atol=0, rtol=0)
    assert inference_mesh_model(model, image, np.zeros((0, 4))) == []


@pytest.mark.parametrize('kwargs, error, match', [
    (dict(img='no/such/image.png'), FileNotFoundError, 'image not found'),
    (dict(img=np.zeros((8, 8), np.uint8)), InferenceInputError, r'\(H, W, 3\) BGR uint8'),
    (dict(bboxes=[[0, 0, 10]]), InferenceInputError, r'shape \(N, 4\)'),
    (dict(bboxes=[[0, 0, 10, 10], [1, 2]]), InferenceInputError, r'\(N, 4\)'),
    (dict(bboxes=[[130, 0, 150, 40]]), InferenceInputError, 'box 0 .* outside the 120x96'),
    (dict(bboxes=[[0, 0, 10, 10], [50, 40, 20, 60]]), InferenceInputError, 'box 1 .* empty'),
    (dict(bboxes=[[0, 0, 10, np.nan]]), InferenceInputError, 'non-finite'),
    (dict(bboxes=[[0, 0, 10, 10]] * 2, hand_sides=['left']), InferenceInputError,
     '1 hand side flags for 2 boxes'),
    (dict(hand_sides='up'), InferenceInputError, "'left', 'right' or a bool"),
    (dict(cam_K=np.eye(2)), InferenceInputError, '3x3'),
    (dict(cam_K=-np.eye(3)), InferenceInputError, 'fx, fy > 0'),
    (dict(batch_size=0), InferenceInputError, 'batch_size'),
])
def test_bad_inputs_give_clear_errors(model, image, kwargs, error, match):
    kwargs = dict(dict(img=image), **kwargs)
    with pytest.raises(error, match=match):
        inference_mesh_model(model, **kwargs)
    assert issubclass(InferenceInputError, ValueError)


def test_init_errors(tiny_ckpt, tmp_path):
    cfg_path, _ = tiny_ckpt
    with pytest.raises(FileNotFoundError, match='config file not found'):
        init_mesh_model(str(tmp_path / 'missing.py'))
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        init_mesh_model(cfg_path, str(tmp_path / 'missing.pth'))
    other = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'backbone.foo': torch.zeros(1)}}, other)
    with pytest.raises(InferenceInputError, match='does not match'):
        init_mesh_model(cfg_path, other)
