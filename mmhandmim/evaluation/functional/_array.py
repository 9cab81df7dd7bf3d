"""Conversion of metric inputs to float64 numpy arrays (numpy, lists or torch tensors)."""
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
