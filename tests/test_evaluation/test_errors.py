import numpy as np
import pytest

from mmhandmim.evaluation import PCK_THRESHOLDS, auc, mean_error, pck_curve, point_distances


def test_point_distances_and_official_mean_error():
    gt = np.zeros((2, 2, 3))
    pred = np.array([[[3.0, 4, 0], [0, 0, 1]], [[0, 0, 0], [0, 2, 0]]])
    d = point_distances(pred, gt)
    np.testing.assert_array_equal(d, [[5, 1], [0, 2]])
    # mean over points of per-point means: ((5 + 0) / 2 + (1 + 2) / 2) / 2
    assert mean_error(d) == pytest.approx(2.0)


def test_pck_matches_brute_force():
    rng = np.random.default_rng(0)
    d = rng.uniform(0, 0.06, size=(50, 7))
    d[3, 2] = PCK_THRESHOLDS[40]  # exactly on a threshold
    brute = (d[:, :, None] <= PCK_THRESHOLDS).mean(axis=0)
    np.testing.assert_array_equal(pck_curve(d), brute)


def test_pck_counts_distance_equal_to_threshold():
    d = np.array([[0.005], [0.25]])
    np.testing.assert_array_equal(pck_curve(d, [0.005, 0.25, 0.0]), [[0.5, 1.0, 0.0]])


def test_auc_hand_computed_one_keypoint_two_samples():
    d = np.array([[0.0], [1.0]])
    t = np.array([0.0, 0.5, 1.0])
    pck = pck_curve(d, t)
    np.testing.assert_array_equal(pck, [[0.5, 0.5, 1.0]])
    # trapz: 0.5 * (0.5 + 0.5) / 2 + 0.5 * (0.5 + 1.0) / 2 = 0.625, over trapz(1, t) = 1
    assert auc(pck, t) == pytest.approx(0.625, abs=1e-15)
    # with the official 0-50 mm thresholds the 1 m error never counts: PCK = 0.5 everywhere
    assert auc(pck_curve(d)) == pytest.approx(0.5, abs=1e-15)


def test_auc_is_mean_of_per_keypoint_areas():
    t = np.array([0.0, 1.0])
    pck = np.array([[1.0, 1.0], [0.0, 1.0]])  # areas 1.0 and 0.5
    assert auc(pck, t) == pytest.approx(0.75)
