import numpy as np
import torch

from mmhandmim.evaluation import procrustes_align, scale_translation_align

from .official_reference import align_sc_tr, align_w_scale


def _rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_procrustes_matches_official_per_sample(hands):
    pred, _, gt, _ = hands
    ours = procrustes_align(pred, gt)
    ref = np.stack([align_w_scale(g, p.copy()) for p, g in zip(pred, gt)])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-14)


def test_similarity_transformed_prediction_aligns_to_zero_error():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(3, 21, 3))
    rot = np.stack([_rotation(rng.normal(size=3), a) for a in (0.3, 2.0, 3.0)])
    pred = 1.7 * gt @ rot.transpose(0, 2, 1) + np.array([0.1, -2.0, 5.0])
    # the official 1e-8 terms in the scales leave a relative error of about 1e-8
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-7)


def test_reflected_prediction_aligns_to_zero_error():
    # the official code has no determinant correction, so a mirror image aligns perfectly
    rng = np.random.default_rng(2)
    gt = rng.normal(size=(2, 30, 3))
    pred = gt * np.array([-1.0, 1.0, 1.0]) * 0.5 + 3.0
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-7)


def test_all_zero_prediction_lands_on_gt_centroid():
    rng = np.random.default_rng(3)
    gt = rng.normal(size=(2, 21, 3))
    aligned = procrustes_align(np.zeros_like(gt), gt)
    assert np.isfinite(aligned).all()
    np.testing.assert_allclose(aligned, np.broadcast_to(gt.mean(1, keepdims=True), gt.shape),
                               atol=1e-15)


def test_single_sample_and_torch_input():
    rng = np.random.default_rng(4)
    gt, pred = rng.normal(size=(21, 3)), rng.normal(size=(21, 3))
    ours = procrustes_align(torch.from_numpy(pred), torch.from_numpy(gt))
    assert ours.shape == (21, 3)
    np.testing.assert_allclose(ours, align_w_scale(gt, pred.copy()), atol=1e-14)


def test_scale_translation_matches_official(hands):
    pred, _, gt, _ = hands
    pred = pred.copy()
    pred[1, 4] = pred[1, 0]  # zero-length reference bone: the official code skips the scaling
    ours = scale_translation_align(pred, gt)
    ref = np.stack([align_sc_tr(g, p) for p, g in zip(pred, gt)])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ours[:, 0], gt[:, 0])
