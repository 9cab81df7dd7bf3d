"""Small synthetic hand-like sets shared by the evaluation tests."""
import numpy as np
import pytest


def make_hands(n, n_verts=40, seed=0, ho3d=False):
    """(pred_xyz, pred_verts, gt_xyz, gt_verts): GT under random poses, noisy predictions.

    Errors are a few mm so that PCK, AUC and both F-score thresholds are all exercised.
    """
    rng = np.random.default_rng(seed)
    gt_xyz = rng.normal(0, 0.04, (n, 21, 3)) + [0, 0, -0.6 if ho3d else 0.6]
    gt_verts = rng.normal(0, 0.04, (n, n_verts, 3)) + [0, 0, -0.6 if ho3d else 0.6]
    pred_xyz = gt_xyz + rng.normal(0, 0.008, gt_xyz.shape) + rng.normal(0, 0.01, (n, 1, 3))
    pred_verts = gt_verts * 1.05 + rng.normal(0, 0.006, gt_verts.shape)
    return pred_xyz, pred_verts, gt_xyz, gt_verts


@pytest.fixture
def hands():
    return make_hands(6)
