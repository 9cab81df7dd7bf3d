"""Large uninitialised arrays that are cheap to touch for the first time.

First touches of fresh memory dominate large arrays here (~3 ms of page faults per MB on a
2-core VM, 3x less with 2 MB pages): big arrays get transparent huge pages where allowed.
"""
import mmap
from typing import Sequence, Union

import numpy as np

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
