"""Conversion of metric inputs to float64 numpy arrays (numpy, lists or torch tensors)."""
import numpy as np


def as_float64(x, name='array'):
    """Return ``x`` as a float64 ndarray; torch tensors are detached and moved to CPU."""
    if hasattr(x, 'detach'):  # torch.Tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f'{name} cannot be converted to a float array: {exc}') from None


def as_point_batch(x, name='points'):
    """Return ``x`` as (N, K, 3) float64; a single (K, 3) set becomes a batch of one."""
    x = as_float64(x, name)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f'{name} must have shape (N, K, 3) or (K, 3), got {x.shape}')
    return x
