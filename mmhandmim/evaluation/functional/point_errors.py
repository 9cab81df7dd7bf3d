"""Point errors, PCK curves and AUC as the official EvalUtil computes them (vectorised)."""
import numpy as np

from ._array import ArrayLike, as_float64, as_point_batch
from ._bin_kernel import first_at_or_above

#: the official thresholds, metres: np.linspace(0.0, 0.05, 100)
PCK_THRESHOLDS = np.linspace(0.0, 0.05, 100)


def point_distances(pred: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Euclidean distance per sample and point: (N, K) from two (N, K, 3) arrays.

    Args:
        pred (ArrayLike): (N, K, 3) or (K, 3) points.
        gt (ArrayLike): the same shape.

    Returns:
        np.ndarray: (N, K) float64 distances.

    Raises:
        ValueError: ``pred`` and ``gt`` are not point arrays of the same shape.
    """
    pred, gt = as_point_batch(pred, 'pred'), as_point_batch(gt, 'gt')
    if pred.shape != gt.shape:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must have the same shape')
    return np.sqrt(np.square(pred - gt).sum(axis=-1))


def mean_error(dists: ArrayLike) -> float:
    """Official mean error: mean over points of the per-point mean over samples.

    Args:
        dists (ArrayLike): (N, K) distances (a 1-D array counts as one sample).

    Returns:
        float: the mean error, in the units of ``dists``.
    """
    dists = as_float64(dists, 'dists')
    # per-point means over contiguous rows: the same summation order as the official np.mean
    return float(np.ascontiguousarray(np.atleast_2d(dists).T).mean(axis=1).mean())


def pck_curve(dists: ArrayLike, thresholds: ArrayLike = PCK_THRESHOLDS) -> np.ndarray:
    """Per-point PCK, (K, T): fraction of samples i with dists[i, k] <= t (official ``<=``).

    Each distance is binned once against the sorted thresholds and the bins are counted,
    which avoids the (N, K, T) boolean tensor (about 900 MB for HO3D's 11,524 x 778 x 100)
    while comparing the original values, so boundary cases stay exact.

    Args:
        dists (ArrayLike): (N, K) distances.
        thresholds (ArrayLike): (T,) thresholds, in any order (flattened).

    Returns:
        np.ndarray: (K, T) float64, columns in the order of ``thresholds``.

    Raises:
        ValueError: ``dists`` is not 2-D.
    """
    dists = as_float64(dists, 'dists')
    thresholds = as_float64(thresholds, 'thresholds').ravel()
    if dists.ndim != 2:
        raise ValueError(f'dists must have shape (N, K), got {dists.shape}')
    n, k = dists.shape
    order = np.argsort(thresholds, kind='stable')
    t_sorted = thresholds[order]
    n_t = t_sorted.size
    # first threshold index j with d <= t_j; d counts for every threshold from j on
    hist = first_at_or_above(np.ascontiguousarray(dists), np.ascontiguousarray(t_sorted))
    counts = np.cumsum(hist[:, :n_t], axis=1)
    pck = np.empty((k, n_t))
    pck[:, order] = counts / float(n)
    return pck


def auc(pck: ArrayLike, thresholds: ArrayLike = PCK_THRESHOLDS) -> float:
    """Official AUC: mean over points of trapz(PCK_k, t) / trapz(1, t); a unitless fraction.

    Args:
        pck (ArrayLike): (K, T) per-point PCK curves (a 1-D curve counts as one point).
        thresholds (ArrayLike): (T,) thresholds of the curves, ascending.

    Returns:
        float: the AUC in [0, 1].
    """
    pck = np.atleast_2d(as_float64(pck, 'pck'))
    thresholds = as_float64(thresholds, 'thresholds').ravel()
    widths = np.diff(thresholds)
    # np.trapz's expression, so the numbers match the official ones to the last bit
    areas = (widths * (pck[:, 1:] + pck[:, :-1]) / 2.0).sum(axis=1)
    norm = (widths * 2.0 / 2.0).sum()
    return float((areas / norm).mean())
