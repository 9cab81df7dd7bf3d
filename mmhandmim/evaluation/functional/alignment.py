"""Batched versions of the official FreiHAND/HO3D alignment functions."""
import numpy as np

from ._array import ArrayLike, as_point_batch


def procrustes_align(pred: ArrayLike, gt: ArrayLike) -> np.ndarray:
    """Similarity-align ``pred`` to ``gt`` per sample, exactly as the official ``align_w_scale``.

    The official function has no determinant correction, so reflections are allowed, and its
    1e-8 terms make an all-zero prediction land on the GT centroid instead of giving NaN.

    Args:
        pred (ArrayLike): (N, K, 3) or (K, 3) array (numpy, lists or torch tensors).
        gt (ArrayLike): the same shape.

    Returns:
        np.ndarray: float64 array of ``pred``'s shape (batched): the aligned prediction.

    Raises:
        ValueError: ``pred`` and ``gt`` are not point arrays of the same shape.
    """
    squeeze = np.ndim(pred) == 2
    pred, gt = as_point_batch(pred, 'pred'), as_point_batch(gt, 'gt')
    if pred.shape != gt.shape:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must have the same shape')
    mu_g = gt.mean(axis=1, keepdims=True)
    mu_p = pred.mean(axis=1, keepdims=True)
    a0 = gt - mu_g
    b0 = pred - mu_p
    s_a = np.sqrt(np.einsum('nkc,nkc->n', a0, a0))[:, None, None] + 1e-8
    s_b = np.sqrt(np.einsum('nkc,nkc->n', b0, b0))[:, None, None] + 1e-8
    # scipy.linalg.orthogonal_procrustes(A, B): SVD of A^T B, R = U V^T, scale = sum(S)
    a, b = a0 / s_a, b0 / s_b
    u, sing, vt = np.linalg.svd(a.transpose(0, 2, 1) @ b)
    rot = u @ vt
    # same operation order as the official code: ((B R^T) s) sA + mean(gt)
    aligned = (b @ rot.transpose(0, 2, 1)) * sing.sum(axis=1)[:, None, None] * s_a + mu_g
    return aligned[0] if squeeze else aligned


def scale_translation_align(pred: ArrayLike, gt: ArrayLike, idx_a: int = 0,
                            idx_b: int = 4) -> np.ndarray:
    """HO3D's ``align_sc_tr``: match the |p_b - p_a| bone length and the p_a position.

    sp = |Y_b - Y_a|, Y' = Y / sp if sp > 0 else Y; sg = |X_b - X_a|;
    aligned = sg Y' - sg Y'_a + X_a. Indices refer to the submitted keypoint order.

    Args:
        pred (ArrayLike): Y, (N, K, 3) or (K, 3) array (numpy, lists or torch tensors).
        gt (ArrayLike): X, the same shape.
        idx_a (int): index of point a (the one matched in position).
        idx_b (int): index of point b (the other end of the bone).

    Returns:
        np.ndarray: float64 array of ``pred``'s shape: the aligned prediction.

    Raises:
        ValueError: ``pred`` and ``gt`` are not point arrays of the same shape.
    """
    squeeze = np.ndim(pred) == 2
    pred, gt = as_point_batch(pred, 'pred'), as_point_batch(gt, 'gt')
    if pred.shape != gt.shape:
        raise ValueError(f'pred {pred.shape} and gt {gt.shape} must have the same shape')
    s_p = np.sqrt(np.square(pred[:, idx_b] - pred[:, idx_a]).sum(-1))[:, None, None]
    normed = np.where(s_p > 0, pred / np.where(s_p > 0, s_p, 1.0), pred)
    s_g = np.sqrt(np.square(gt[:, idx_b] - gt[:, idx_a]).sum(-1))[:, None, None]
    scaled = normed * s_g
    aligned = scaled - scaled[:, idx_a:idx_a + 1] + gt[:, idx_a:idx_a + 1]
    return aligned[0] if squeeze else aligned
