import numpy as np
import pytest

from mmhandmim.evaluation import f_score, pck_curve, point_distances
from mmhandmim.evaluation.functional import fscore as fscore_module

from .official_reference import calculate_fscore


@pytest.mark.parametrize('n_pred', [25, 31])
def test_f_score_matches_brute_force(monkeypatch, n_pred):
    monkeypatch.setattr(fscore_module, '_CHUNK', 3)  # several chunks of samples
    rng = np.random.default_rng(n_pred)
    gt = rng.normal(0, 0.01, (7, 25, 3)) + [0, 0, 0.6]
    pred = gt[:, rng.integers(0, 25, n_pred)] + rng.normal(0, 0.004, (7, n_pred, 3))
    pred[2] += 1.0  # a sample with nothing in range: F = 0, not NaN
    th = (0.002, 0.005, 0.015)
    ours = f_score(pred, gt, th)
    ref = np.array([[calculate_fscore(g, p, t) for t in th] for p, g in zip(pred, gt)])
    np.testing.assert_array_equal(ours, ref)
    assert (ours[2] == 0).all() and ours.max() > 0


def test_boundary_counts_in_pck_but_not_in_f_score():
    gt = np.zeros((1, 1, 3))
    pred = np.array([[[0.005, 0.0, 0.0]]])  # distance exactly 0.005
    assert point_distances(pred, gt)[0, 0] == 0.005
    assert pck_curve(point_distances(pred, gt), [0.005])[0, 0] == 1.0  # PCK: <=
    assert f_score(pred, gt, [0.005])[0, 0] == 0.0  # F-score: <
    assert f_score(pred, gt, [np.nextafter(0.005, 1)])[0, 0] == 1.0
