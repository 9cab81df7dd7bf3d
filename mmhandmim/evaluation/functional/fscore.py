"""Vertex F-score (official ``calculate_fscore``) with exact nearest neighbours, vectorised."""
import sys
from typing import Sequence, Union

import numpy as np

from ._array import ArrayLike, as_point_batch
from ._near_kernel import near_counts

#: the official F-score thresholds, metres
F_THRESHOLDS = (0.005, 0.015)


def f_score(pred_verts: ArrayLike, gt_verts: ArrayLike,
            thresholds: Union[float, Sequence[float]] = F_THRESHOLDS) -> np.ndarray:
    """Per-sample F-score, (N, T), exactly as the official ``calculate_fscore``.

    a = #{g: d(g, P) < th} / |G|, b = #{p: d(p, G) < th} / |P| (strict ``<``),
    F = 2ab / (a + b), 0 when a + b = 0. The reported value is the mean over samples.
    torch's thread count, if torch is loaded, is left as it was.

    Args:
        pred_verts (ArrayLike): P, (N, V, 3) or (V, 3) predicted vertices.
        gt_verts (ArrayLike): G, (N, V', 3) or (V', 3) ground-truth vertices.
        thresholds (float or Sequence[float]): (T,) distances, metres.

    Returns:
        np.ndarray: (N, T) float64, columns in the order of ``thresholds``.

    Raises:
        ValueError: wrong shapes, different sample counts, or thresholds that are not
            positive finite numbers.
    """
    pred, gt = as_point_batch(pred_verts, 'pred_verts'), as_point_batch(gt_verts, 'gt_verts')
    if pred.shape[0] != gt.shape[0]:
        raise ValueError(f'pred_verts has {pred.shape[0]} samples, gt_verts {gt.shape[0]}')
    th = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    if th.ndim != 1 or not (th > 0).all() or not np.isfinite(th).all():
        raise ValueError(f'thresholds must be positive finite numbers, got {thresholds}')
    if pred.shape[0] == 0:
        return np.zeros((0, th.size))
    order = np.argsort(th)
    pred, gt = np.ascontiguousarray(pred), np.ascontiguousarray(gt)
    torch = sys.modules.get('torch')  # not imported here: the evaluator runs without it
    threads = torch.get_num_threads() if torch is not None else None
    try:
        # official names: precision = GT side (a), recall = prediction side (b)
        precision = near_counts(gt, pred, th[order]) / gt.shape[1]
        recall = near_counts(pred, gt, th[order]) / pred.shape[1]
    finally:  # a metric must not change the thread count training runs with
        if threads is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
    total = recall + precision
    safe = np.where(total > 0, total, 1.0)
    out = np.empty((pred.shape[0], th.size))
    out[:, order] = np.where(total > 0, 2 * recall * precision / safe, 0.0)
    return out
