"""The evaluator's speed-ups give the same numbers as the plain computations they replace."""
import json
import os

import numpy as np
import pytest

from mmhandmim.evaluation import load_gt, pck_curve
from mmhandmim.utils import json_arrays
from mmhandmim.utils.memory import empty_array
from mmhandmim.evaluation.functional._near_kernel import near_counts
from mmhandmim.evaluation.pck_plot import PlotProcess


def _brute_counts(src, dst, th):
    d = np.sqrt(np.square(src[:, :, None] - dst[:, None]).sum(-1)).min(axis=2)
    return (d[:, :, None] < np.asarray(th)).sum(axis=1)


@pytest.mark.parametrize('n_src, n_dst', [(50, 50), (50, 37)])
def test_near_counts_match_brute_force_at_every_threshold(n_src, n_dst):
    """Partner check, largest-threshold-first searches and coarsened grids: same counts."""
    rng = np.random.default_rng(n_dst)
    dst = rng.normal(0, 0.03, (20, n_dst, 3)) + [0, 0, 0.6]
    src = dst[:, rng.integers(0, n_dst, n_src)] + rng.normal(0, 0.006, (20, n_src, 3))
    src[3, :10] += [0, 500.0, 0]  # far outliers: a coarse grid, points outside it
    th = np.array([0.001, 0.003, 0.005, 0.01, 0.015, 0.03])
    np.testing.assert_array_equal(near_counts(src, dst, th), _brute_counts(src, dst, th))


def test_pck_curve_bins_like_searchsorted():
    t = np.linspace(0.0, 0.05, 100)
    edges = np.concatenate([t, np.nextafter(t, 1), np.nextafter(t, -1),
                            [np.inf, -np.inf, np.nan, -1.0, 1e9, -0.0]])
    dists = np.random.default_rng(0).choice(edges, size=(300, 20))
    for th in (t, t[::-1].copy(), np.array([0.02, 0.01, 0.01]), np.array([0.01])):
        order = np.argsort(th, kind='stable')
        first = np.searchsorted(th[order], dists, side='left')
        ref = np.empty((20, th.size))
        ref[:, order] = (first[:, :, None] <= np.arange(th.size)).sum(0) / 300.0
        np.testing.assert_array_equal(pck_curve(dists, th), ref)


def test_parser_pieces_split_between_numbers(monkeypatch):
    """Tiny pieces: every cut lands after a comma; values and refusals are unchanged."""
    monkeypatch.setattr(json_arrays, '_PIECE', 7)
    values = np.random.default_rng(1).normal(0, 1, (5, 4, 3))
    text = json.dumps([values[:2].tolist(), values.tolist()]).encode()
    xyz, verts = json_arrays.parse_array_list(text)
    np.testing.assert_array_equal(xyz, values[:2])
    np.testing.assert_array_equal(verts, values)
    assert json_arrays.parse_array_list(text.replace(b', ', b' ', 1)) is None
    assert json_arrays.parse_array_list(text[:-1] + b', 1]') is None


def test_empty_array_large_and_small():
    big = empty_array((3, 1 << 20))
    big[:] = 1.5
    assert big.shape == (3, 1 << 20) and big.dtype == np.float64 and big.flags.writeable
    assert empty_array((2, 3), np.int64).dtype == np.int64


def test_cached_gt_is_a_private_copy(tmp_path, monkeypatch, hands):
    monkeypatch.setenv('MMHANDMIM_CACHE', str(tmp_path / 'cache'))
    gt_xyz, gt_verts = hands[2], hands[3]
    for kind, arr in (('xyz', gt_xyz), ('verts', gt_verts)):
        (tmp_path / f'evaluation_{kind}.json').write_text(json.dumps(arr.tolist()))
    for _ in range(2):  # parse + cache, then read back from the cache
        xyz, verts = load_gt(tmp_path)
        np.testing.assert_array_equal(xyz, gt_xyz)
        np.testing.assert_array_equal(verts, gt_verts)
        verts[0] = 0.0  # writable, and the cache is unaffected


def test_plot_process_draws_and_reports_failure(tmp_path):
    t = np.linspace(0, 50, 100)
    metrics = {'pck_curves': {'thresholds_mm': t, 'j': t / 50, 'pa_j': t / 50, 'v': t / 50,
                              'pa_v': t / 50},
               'auc_j': 0.5, 'pa_auc_j': 0.5, 'auc_v': 0.5, 'pa_auc_v': 0.5}
    PlotProcess().plot(metrics, str(tmp_path / 'p.png'))
    assert os.path.getsize(tmp_path / 'p.png') > 10000
    with pytest.raises(OSError, match='plot helper failed'):
        PlotProcess().plot(metrics, str(tmp_path / 'missing' / 'p.png'))
    PlotProcess().close()  # not needed after all: stopped without a plot
