"""Conversion of metric inputs to float64 numpy arrays (numpy, lists or torch tensors)."""
import mmap
from typing import Sequence, Union

import numpy as np

#: what the metric functions accept as an array (torch is not imported: a string annotation)
ArrayLike = Union[np.ndarray, Sequence, 'torch.Tensor']


def as_float64(x: ArrayLike, name: str = 'array') -> np.ndarray:
    """Return ``x`` as a float64 ndarray; torch tensors are detached and moved to CPU.

    Args:
        x (ArrayLike): numpy array, (nested) list or torch tensor.
        name (str): what ``x`` is, for the error message.

    Returns:
        np.ndarray: float64 array of ``x``'s shape.

    Raises:
        ValueError: ``x`` cannot be converted to a float array.
    """
    if hasattr(x, 'detach'):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{name} cannot be converted to a float array: {exc}') from None


def as_point_batch(x: ArrayLike, name: str = 'points') -> np.ndarray:
    """Return ``x`` as (N, K, 3) float64; a single (K, 3) set becomes a batch of one.

    Args:
        x (ArrayLike): (N, K, 3) or (K, 3) points.
        name (str): what ``x`` is, for the error message.

    Returns:
        np.ndarray: (N, K, 3) float64.

    Raises:
        ValueError: ``x`` is not numeric or has another shape.
    """
    x = as_float64(x, name)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f'{name} must have shape (N, K, 3) or (K, 3), got {x.shape}')
    return x


# First touches of fresh memory dominate large arrays here (~3 ms of page faults per MB on a
# 2-core VM, 3x less with 2 MB pages): big arrays get transparent huge pages where allowed.
_HUGE_MIN_BYTES = 8 << 20


def empty_array(shape: Union[int, Sequence[int]],
                dtype: Union[np.dtype, type, str] = np.float64) -> np.ndarray:
    """``np.empty`` that backs large arrays with huge-page-advised anonymous memory.

    Args:
        shape (int or Sequence[int]): shape of the array.
        dtype (np.dtype or type or str): its dtype.

    Returns:
        np.ndarray: uninitialised; arrays of 8 MiB or more live in an anonymous ``mmap``.
    """
    dtype = np.dtype(dtype)
    count = int(np.prod(shape))
    nbytes = count * dtype.itemsize
    if nbytes < _HUGE_MIN_BYTES or not hasattr(mmap, 'MADV_HUGEPAGE'):
        return np.empty(shape, dtype)
    buf = mmap.mmap(-1, nbytes)
    try:
        buf.madvise(mmap.MADV_HUGEPAGE)
    except OSError:  # THP unsupported: ordinary pages
        pass
    return np.frombuffer(buf, dtype, count).reshape(shape)
