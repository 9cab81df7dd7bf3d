"""Input checks with messages that say what is wrong and where (sample index)."""
from typing import Optional, Tuple

import numpy as np

from ._array import ArrayLike, as_float64


def check_points(arr: ArrayLike, name: str, num_samples: Optional[int] = None,
                 num_points: Optional[int] = None) -> np.ndarray:
    """Return ``arr`` as float64 (N, K, 3) or raise ValueError naming the problem.

    Checks the rank and last dimension, the sample count (``num_samples``), the point count
    (``num_points``) and that every value is finite (naming the first bad sample).

    Args:
        arr (ArrayLike): the points.
        name (str): what ``arr`` is, for the messages.
        num_samples (int, optional): required N; None: any.
        num_points (int, optional): required K; None: any.

    Returns:
        np.ndarray: (N, K, 3) float64.

    Raises:
        ValueError: a check failed.
    """
    arr = as_float64(arr, name)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(f'{name}: expected shape (N, K, 3), got {arr.shape}')
    if num_samples is not None and arr.shape[0] != num_samples:
        raise ValueError(f'{name}: expected {num_samples} samples, got {arr.shape[0]}')
    if num_points is not None and arr.shape[1] != num_points:
        raise ValueError(f'{name}: expected {num_points} points per sample, got {arr.shape[1]}')
    finite = np.isfinite(arr).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        kind = 'NaN' if np.isnan(arr[bad[0]]).any() else 'inf'
        raise ValueError(f'{name}: non-finite values ({kind}) in sample {bad[0]} '
                         f'({bad.size} sample(s) affected)')
    return arr


def check_prediction(pred_xyz: ArrayLike, pred_verts: ArrayLike, gt_xyz: ArrayLike,
                     gt_verts: ArrayLike
                     ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate GT then prediction against it; returns the four float64 arrays.

    Args:
        pred_xyz (ArrayLike): (N, J, 3) predicted joints.
        pred_verts (ArrayLike): (N, V, 3) predicted vertices.
        gt_xyz (ArrayLike): (N, J, 3) ground-truth joints.
        gt_verts (ArrayLike): (N, V, 3) ground-truth vertices.

    Returns:
        Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ``(pred_xyz, pred_verts,
        gt_xyz, gt_verts)``, each (N, K, 3) float64.

    Raises:
        ValueError: a check of :func:`check_points` failed, or the prediction's sample,
            joint or vertex count differs from the ground truth's.
    """
    gt_xyz = check_points(gt_xyz, 'gt_xyz')
    gt_verts = check_points(gt_verts, 'gt_verts', num_samples=gt_xyz.shape[0])
    n = gt_xyz.shape[0]
    pred_xyz = as_float64(pred_xyz, 'pred_xyz')
    pred_verts = as_float64(pred_verts, 'pred_verts')
    for name, arr in (('pred_xyz', pred_xyz), ('pred_verts', pred_verts)):
        if arr.ndim >= 1 and arr.shape[0] != n:
            raise ValueError(f'{name}: expected {n} samples (as in the ground truth), '
                             f'got {arr.shape[0]}')
    if pred_verts.ndim == 3 and pred_verts.shape[1] != gt_verts.shape[1]:
        raise ValueError(f'pred_verts: {pred_verts.shape[1]} vertices per sample but the '
                         f'ground truth has {gt_verts.shape[1]}; mesh metrics need the same '
                         'topology')
    pred_xyz = check_points(pred_xyz, 'pred_xyz', n, gt_xyz.shape[1])
    pred_verts = check_points(pred_verts, 'pred_verts', n, gt_verts.shape[1])
    return pred_xyz, pred_verts, gt_xyz, gt_verts
