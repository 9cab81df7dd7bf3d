"""ViT + PyMAF-MANO estimator: forward/loss/predict (ViT and an mmpose ResNet by config), and
ground truth fed through the head reprojects exactly."""
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmpose.registry import DATASETS, MODELS

import mmhandmim  # noqa: F401
from mmhandmim.models.mesh.camera import translation_to_weak_cam, weak_cam_to_translation

from .conftest import pipeline, tiny_model

pytestmark = pytest.mark.usefixtures('mmpose_scope')


def batch(root, n, train=True, split='training'):
    ds = DATASETS.build(dict(type='FreiHANDMeshDataset', data_root=root, split=split,
                             image_versions=('gs', ), pipeline=pipeline(train)))
    return pseudo_collate([ds[i] for i in range(n)])


def run(model, data, mode):
    data = model.data_preprocessor(data, training=mode == 'loss')
    return model(**data, mode=mode)


@pytest.mark.parametrize('backbone', ['vit', 'resnet'])
def test_forward_loss_predict(freihand_small, backbone):
    torch.manual_seed(0)
    cfg = tiny_model() if backbone == 'vit' else tiny_model(
        backbone=dict(type='ResNet', depth=18, out_indices=(3, )), in_channels=512)
    model = MODELS.build(cfg)
    data = batch(freihand_small, 4)
    losses = run(model, data, 'loss')
    assert {'loss_mano', 'loss_vert', 'loss_kpt3d', 'loss_kpt2d'} <= set(losses)
    total = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.head.regressors.parameters())
    model.eval()
    with torch.no_grad():
        out = run(model, batch(freihand_small, 2, train=False, split='evaluation'), 'predict')
    pred = out[0].pred_instances
    assert pred.keypoints.shape == (1, 21, 2) and pred.keypoints_3d.shape == (1, 21, 3)
    assert pred.vertices.shape == (1, 778, 3) and pred.mano_pose.shape == (1, 48)
    assert np.isfinite(pred.vertices).all() and (pred.keypoints_3d[..., 2] > 0).all()


def test_camera_translation_round_trip():
    K = torch.tensor([[[300., 0, 40], [0, 310., 28], [0, 0, 1]]]).repeat(5, 1, 1)
    T = torch.tensor([[0.01, -0.02, 0.5]]).repeat(5, 1) + torch.rand(5, 3) * 0.1
    cam = translation_to_weak_cam(T, K, (64, 64))
    torch.testing.assert_close(weak_cam_to_translation(cam, K, (64, 64)), T)


def test_ground_truth_through_the_head_reprojects_exactly(freihand_small):
    """GT parameters in place of predictions: the 2D reprojection loss is ~0 on rotated,
    scaled, shifted crops, so K, crop and rotation conventions agree end to end."""
    model = MODELS.build(tiny_model()).double()
    data = batch(freihand_small, 6)
    samples = data['data_samples']
    lab = lambda k: torch.stack([s.gt_instance_labels[k][0] for s in samples]).double()  # noqa
    head = model.head
    rot = head.mano.pose_to_rotmat(lab('mano_pose'))
    from mmhandmim.structures import matrix_to_rot6d
    root = lab('keypoints_3d')[:, 0]
    K = lab('cam_K')
    est = head.decode(matrix_to_rot6d(rot), lab('mano_betas'),
                      translation_to_weak_cam(root, K, head.input_size), K)
    torch.testing.assert_close(est['keypoints_3d'], lab('keypoints_3d'), atol=1e-6, rtol=0)
    loss = head.loss_kpt2d(est['keypoints_2d'], lab('keypoints_2d'),
                           torch.ones(6, 21, dtype=torch.float64), head.input_size,
                           torch.ones(6, dtype=torch.float64))
    assert loss.item() < 1e-5  # crop-normalised: < 1e-5 of 64 px


def test_weak_camera_loss_is_the_depth_ratio_and_offset():
    """L_MANO's translation term: 0 for the ground-truth camera, |log 2| when the hand is
    predicted twice as far (s halved), plus the L1 of the in-plane offsets."""
    from mmhandmim.models.mesh.losses import WeakCameraLoss
    K = torch.tensor([[[300., 0, 32], [0, 300., 32], [0, 0, 1]]]).repeat(3, 1, 1)
    root = torch.tensor([[0.01, -0.02, 0.5], [0.0, 0.03, 0.7], [-0.02, 0.0, 0.6]])
    gt = translation_to_weak_cam(root, K, (64, 64))
    loss, w = WeakCameraLoss(), torch.ones(3)
    assert loss(gt, gt, w).item() == pytest.approx(0.0, abs=1e-7)
    far = weak_cam_to_translation(gt, K, (64, 64)) * torch.tensor([1.0, 1.0, 2.0])
    pred = translation_to_weak_cam(far, K, (64, 64))
    offset = (pred[:, 1:] - gt[:, 1:]).abs().sum(-1).mean().item()
    assert loss(pred, gt, w).item() == pytest.approx(np.log(2.0) + offset, rel=1e-5)
    # masked samples do not count
    assert loss(pred, gt, torch.tensor([0., 0., 0.])).item() == 0.0


def test_mixed_precision_keeps_the_hand_model_in_float32(freihand_small):
    """Under bf16 autocast (``--amp``, fp16 validation) the regressors run in bf16 but MANO,
    the camera and the projection stay float32: decoding the same parameters gives exactly
    the float32 result, and predict returns float32 arrays (it raised on bf16 before)."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model()).eval()
    head = model.head
    g = torch.Generator().manual_seed(0)
    pose6d = head.init_pose6d.expand(2, -1, -1) + 0.1 * torch.randn(2, 16, 6, generator=g)
    betas, cam = torch.randn(2, 10, generator=g), head.init_cam.expand(2, -1)
    K = torch.tensor([[100., 0, 32], [0, 100., 32], [0, 0, 1]]).expand(2, 3, 3)
    with torch.no_grad():
        ref = head.decode(pose6d, betas, cam, K)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            half = head.decode(pose6d.bfloat16(), betas.bfloat16(), cam.bfloat16(), K)
            direct = head.decode(pose6d, betas, cam, K)
    for key in ('vertices', 'keypoints_3d', 'keypoints_2d'):
        assert direct[key].dtype == torch.float32 and half[key].dtype == torch.float32
        assert torch.equal(direct[key], ref[key]), key  # no bf16 inside
    # bf16 inputs are rounded parameters, nothing more: mm-level, not a broken hand
    assert (half['vertices'] - ref['vertices']).abs().max() < 0.01
    data = batch(freihand_small, 2, train=False, split='evaluation')
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = run(model, data, 'predict')
    pred = out[0].pred_instances
    assert pred.vertices.dtype == np.float32 and pred.keypoints.dtype == np.float32
    assert np.isfinite(pred.vertices).all() and pred.mano_pose.shape == (1, 48)
