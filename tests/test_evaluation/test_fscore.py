import numpy as np
import pytest

from mmhandmim.evaluation import f_score, pck_curve, point_distances

from .official_reference import calculate_fscore


@pytest.mark.parametrize('n_pred', [25, 31])
def test_f_score_matches_brute_force(n_pred):
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


def test_f_score_exact_with_far_outliers_and_unsorted_thresholds():
    """A prediction with points kilometres away makes the per-sample grid too large for the
    threshold-sized cells; the coarser fallback grid must still find every neighbour."""
    rng = np.random.default_rng(0)
    gt = rng.normal(0, 0.02, (4, 60, 3)) + [0, 0, 0.6]
    pred = gt + rng.normal(0, 0.006, gt.shape)
    pred[1, :5] += [3000.0, 0, 0]
    gt[3, :3] -= [0, 2000.0, 0]
    th = (0.015, 0.002, 0.005)
    ours = f_score(pred, gt, th)
    ref = np.array([[calculate_fscore(g, p, t) for t in th] for p, g in zip(pred, gt)])
    np.testing.assert_array_equal(ours, ref)
    assert 0 < ours[1, 0] < 1 and ours[1, 1] < ours[1, 2] < ours[1, 0]


def test_f_score_neighbours_in_adjacent_cells_only():
    """Neighbours just under the largest threshold along a diagonal sit in a corner cell of
    the 3x3x3 neighbourhood; just over it, they do not count."""
    th = 0.015
    step = th / np.sqrt(3)
    gt = np.zeros((2, 2, 3))
    gt[:, 1] = 1.0  # a far second point so the grid spans many cells
    pred = gt.copy()
    pred[0, 0] = np.nextafter(step, 0) * np.ones(3)  # |d| just below th
    pred[1, 0] = step * 1.0001 * np.ones(3)  # just above th
    d = np.sqrt(np.square(pred[:, 0] - gt[:, 0]).sum(-1))
    assert d[0] < th < d[1]
    np.testing.assert_array_equal(f_score(pred, gt, [th])[:, 0], [1.0, 0.5])


def test_f_score_leaves_torch_thread_count_alone():
    """The compiled kernel runs threads of its own; training after an in-loop validation must
    keep the thread count it had (it decides speed and the order of float sums)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rng = np.random.default_rng(1)
        gt = rng.normal(0, 0.02, (64, 50, 3))
        f_score(gt + rng.normal(0, 0.004, gt.shape), gt)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
