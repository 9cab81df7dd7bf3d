"""Refuse broken annotation arrays when a dataset loads, naming the file and the sample.

Without these checks a wrong vertex count, a NaN or a zero focal length surfaces only at the
first forward pass (a shape error deep in torch, or "non-finite loss, lower the learning
rate"). All checks are vectorised over the whole split, so they cost milliseconds even for
FreiHAND's 130k frames.
"""
from typing import Optional, Sequence, Tuple

import numpy as np

from ..utils.errors import UserInputError


class AnnotationError(UserInputError, ValueError):
    """An annotation file's content is unusable (wrong type, shape, NaN, zero focal)."""


def _sample_name(i: int, names: Optional[Sequence[str]]) -> str:
    return f'sample {i}' + (f' ({names[i]})' if names is not None else '')


def as_numeric_array(value, path: str, what: str) -> np.ndarray:
    """``value`` as a float64 array, or an :class:`AnnotationError` saying what it was."""
    try:
        arr = np.asarray(value, np.float64)
    except (TypeError, ValueError) as exc:
        kind = type(value).__name__
        raise AnnotationError(
            f'{path}: {what} is not a rectangular list of numbers ({kind}; {exc}); the file '
            'is not in the expected format: download or regenerate it') from None
    return arr


def check_array(arr: np.ndarray, path: str, what: str, shape: Tuple[int, ...],
                names: Optional[Sequence[str]] = None, count: Optional[int] = None) -> None:
    """``arr`` must be (N, *shape), finite, and have ``count`` entries when given."""
    arr = np.asarray(arr)
    if arr.ndim == 0 or arr.shape[1:] != tuple(shape):
        got = 'a scalar' if arr.ndim == 0 else f'shape {tuple(arr.shape)}'
        raise AnnotationError(
            f'{path}: {what} has {got}, expected (N, {", ".join(map(str, shape))}) '
            f'(one {"x".join(map(str, shape))} entry per sample); the file is not in the '
            'expected format')
    if count is not None and len(arr) != count:
        raise AnnotationError(f'{path}: {what} has {len(arr)} entries, expected {count} (one '
                              'per sample); the files come from different downloads')
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(1)
    if bad.any():
        i = int(np.argmax(bad))
        raise AnnotationError(
            f'{path}: {what} of {_sample_name(i, names)} is not finite (NaN or inf; '
            f'{int(bad.sum())} such samples); fix or drop those samples')


def check_intrinsics(K: np.ndarray, path: str, names: Optional[Sequence[str]] = None,
                     count: Optional[int] = None) -> None:
    """Camera matrices (N, 3, 3): finite, positive focal lengths, last row (0, 0, 1)."""
    check_array(K, path, 'camera matrix K', (3, 3), names, count)
    K = np.asarray(K)
    bad = (K[:, 0, 0] <= 0) | (K[:, 1, 1] <= 0) | (np.abs(K[:, 2] - (0, 0, 1)).max(1) > 1e-6)
    if bad.any():
        i = int(np.argmax(bad))
        raise AnnotationError(
            f'{path}: camera matrix K of {_sample_name(i, names)} is {K[i].tolist()}; '
            'expected [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 (pixels)')


def check_in_front(points: np.ndarray, path: str, what: str,
                   names: Optional[Sequence[str]] = None, valid=None) -> None:
    """3D points (N, P, 3) in the OpenCV camera frame must all have z > 0."""
    behind = (np.asarray(points)[..., 2] <= 0).any(-1)
    if valid is not None:
        behind &= np.asarray(valid, bool)
    if behind.any():
        i = int(np.argmax(behind))
        raise AnnotationError(
            f'{path}: {what} of {_sample_name(i, names)} lie at or behind the camera (z <= 0 '
            'in the OpenCV frame, metres); check the units and the camera convention of the '
            'file')


#: no hand's 3D points span more than this (metres; real hands span 0.1-0.3 m): a larger
#: span means millimetres or centimetres, which would train silently with huge losses
MAX_HAND_EXTENT_M = 1.0


def hand_extents(points: np.ndarray) -> np.ndarray:
    """(N,) diagonal of each sample's 3D bounding box, (N, P, 3) -> metres (if in metres)."""
    points = np.asarray(points)
    return np.linalg.norm(points.max(-2) - points.min(-2), axis=-1)


def check_hand_extent(points: np.ndarray, path: str, what: str,
                      names: Optional[Sequence[str]] = None) -> None:
    """Refuse 3D hand points (N, P, 3) that span more than a metre in some sample."""
    ext = hand_extents(points)
    bad = ext > MAX_HAND_EXTENT_M
    if bad.any():
        i = int(np.argmax(bad))
        raise AnnotationError(
            f'{path}: {what} of {_sample_name(i, names)} span {ext[i]:.4g} (a hand spans '
            f'0.1-0.3 m; {int(bad.sum())} such samples): the file looks like millimetres or '
            'centimetres, the datasets are in metres; convert it')
