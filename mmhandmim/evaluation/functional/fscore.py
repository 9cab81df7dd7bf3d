"""Vertex F-score (official ``calculate_fscore``) with exact nearest neighbours, vectorised."""
import numpy as np
from scipy.spatial import cKDTree

from ._array import as_point_batch

#: the official F-score thresholds, metres
F_THRESHOLDS = (0.005, 0.015)

# samples per KD-tree: bounds memory (a chunk of 1024 x 778 points is ~25 MB of coordinates)
_CHUNK = 1024


def _near_counts(src, dst, thresholds):
    """counts[i, j] = #{p in src[i]: min_q |p - q| < thresholds[j], q in dst[i]}.

    All samples of a chunk share one KD-tree: a 4th coordinate holding the sample index keeps
    every neighbour inside its own sample (other samples are farther away than any threshold),
    and adds exactly 0 to same-sample distances, so distances are the exact 3-D ones.
    When src and dst have the same point count, |p_k - q_k| bounds the nearest-neighbour
    distance from above, so points already closer than the smallest threshold to their
    same-index partner need no search.
    """
    n, k, _ = src.shape
    th = np.asarray(thresholds, dtype=np.float64)
    nn = np.full(src.shape[:2], np.inf)
    if src.shape == dst.shape:
        paired = np.sqrt(np.square(src - dst).sum(-1))
        resolved = paired < th.min()
        nn[resolved] = paired[resolved]
    else:
        resolved = np.zeros(src.shape[:2], dtype=bool)
    todo = np.flatnonzero(~resolved.ravel())
    if todo.size:
        sample_gap = np.arange(n, dtype=np.float64) * (2.0 * th.max() + 1.0)
        queries = np.column_stack([src.reshape(-1, 3)[todo], np.repeat(sample_gap, k)[todo]])
        dst_id = np.repeat(sample_gap, dst.shape[1])
        tree = cKDTree(np.column_stack([dst.reshape(-1, 3), dst_id]),
                       balanced_tree=False, compact_nodes=False)
        # the bound only prunes; the strict comparison below decides
        bound = np.nextafter(th.max(), np.inf)
        dist, _ = tree.query(queries, k=1, distance_upper_bound=bound, workers=-1)
        nn.ravel()[todo] = dist
    return (nn[:, :, None] < th).sum(axis=1)


def f_score(pred_verts, gt_verts, thresholds=F_THRESHOLDS):
    """Per-sample F-score, (N, T), exactly as the official ``calculate_fscore``.

    a = #{g: d(g, P) < th} / |G|, b = #{p: d(p, G) < th} / |P| (strict ``<``),
    F = 2ab / (a + b), 0 when a + b = 0. The reported value is the mean over samples.
    """
    pred, gt = as_point_batch(pred_verts, 'pred_verts'), as_point_batch(gt_verts, 'gt_verts')
    if pred.shape[0] != gt.shape[0]:
        raise ValueError(f'pred_verts has {pred.shape[0]} samples, gt_verts {gt.shape[0]}')
    th = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    out = np.empty((pred.shape[0], th.size))
    for start in range(0, pred.shape[0], _CHUNK):
        p, g = pred[start:start + _CHUNK], gt[start:start + _CHUNK]
        # official names: precision = GT side (a), recall = prediction side (b)
        precision = _near_counts(g, p, th) / g.shape[1]
        recall = _near_counts(p, g, th) / p.shape[1]
        total = recall + precision
        safe = np.where(total > 0, total, 1.0)
        out[start:start + _CHUNK] = np.where(total > 0, 2 * recall * precision / safe, 0.0)
    return out
