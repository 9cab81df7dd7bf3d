"""Safe loading of checkpoint files: ``weights_only`` with exactly the classes of mmengine
training checkpoints allowed, full unpickling only for trusted files (see the package doc)."""
import logging
import os
import os.path as osp
import pickle
import re
from typing import Any, Callable, Optional, Union

import torch

from ...utils.errors import UserInputError
from ._log import _log

#: environment variable that allows full unpickling of checkpoints with unknown globals
TRUST_ENV = 'MMHANDMIM_TRUST_CHECKPOINTS'
_TRUSTED_PATHS = set()


class UnsafeCheckpointError(UserInputError, pickle.UnpicklingError):
    """A checkpoint holds pickled objects that ``weights_only`` loading does not allow."""


def mark_trusted(path: Union[str, os.PathLike]) -> None:
    """Allow full unpickling of ``path`` (a checkpoint this process itself produced).

    Args:
        path (str or os.PathLike): the checkpoint file (``~`` and links resolved).
    """
    _TRUSTED_PATHS.add(osp.realpath(osp.expanduser(os.fspath(path))))


def _is_trusted(path):
    return (os.environ.get(TRUST_ENV) == '1'
            or osp.realpath(osp.expanduser(os.fspath(path))) in _TRUSTED_PATHS)


def _history_buffer_getattr(obj, name):
    """The only ``getattr`` a training checkpoint needs: ``HistoryBuffer``'s statistics
    methods (pickled as ``getattr(HistoryBuffer, 'mean')``)."""
    from mmengine.logging import HistoryBuffer
    if obj is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({obj!r}, {name!r}), which '
                                 'training checkpoints never do')


def _empty_bytes(*args):
    """``bytes()`` as protocol-2 pickles of empty numpy buffers use it; nothing else."""
    if args:
        raise pickle.UnpicklingError(f'checkpoint calls bytes{args!r}')
    return b''


def _import_attr(module, name):
    import importlib
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


#: the pickled globals of mmengine training checkpoints (message hub, RNG states, numpy
#: metainfo), each mapped to what ``weights_only`` loading may construct for it
TRAINING_CHECKPOINT_GLOBALS = {
    'mmengine.logging.history_buffer.HistoryBuffer':
        lambda: _import_attr('mmengine.logging.history_buffer', 'HistoryBuffer'),
    'numpy.ndarray': lambda: _import_attr('numpy', 'ndarray'),
    'numpy.dtype': lambda: _import_attr('numpy', 'dtype'),
    'numpy.core.multiarray._reconstruct':
        lambda: _import_attr('numpy.core.multiarray', '_reconstruct'),
    'numpy._core.multiarray._reconstruct':
        lambda: _import_attr('numpy._core.multiarray', '_reconstruct'),
    'numpy.core.multiarray.scalar': lambda: _import_attr('numpy.core.multiarray', 'scalar'),
    'numpy._core.multiarray.scalar': lambda: _import_attr('numpy._core.multiarray', 'scalar'),
    'builtins.getattr': lambda: _history_buffer_getattr,
    'builtins.bytes': lambda: _empty_bytes,
}
_NUMPY_DTYPE_CLASS = re.compile(r'^numpy\.dtypes\.(\w+DType)$')  # numpy >= 1.25 dtype classes


def _allowed_global(name):
    if name in TRAINING_CHECKPOINT_GLOBALS:
        return TRAINING_CHECKPOINT_GLOBALS[name]()
    m = _NUMPY_DTYPE_CLASS.match(name)
    if m:
        import numpy as np
        cls = _import_attr('numpy.dtypes', m.group(1))
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            return cls
    return None


def _numpy_dtype_classes():
    """The classes of numpy dtype *instances* (``numpy.dtypes.Float64DType``, ...): unpickling
    an array builds one, so ``weights_only`` must allow them beside ``numpy.dtype``."""
    import numpy as np
    classes = {type(np.dtype(code)) for code in np.typecodes['All']}
    dtypes = _import_attr('numpy', 'dtypes')
    for name in dir(dtypes) if dtypes is not None else ():
        cls = getattr(dtypes, name)
        if isinstance(cls, type) and issubclass(cls, np.dtype):
            classes.add(cls)
    return sorted(classes, key=lambda c: f'{c.__module__}.{c.__qualname__}')


def _unpickling_reason(exc):
    """The informative line of torch's weights_only error."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if 'WeightsUnpickler error' in line:
            rest = line.split('WeightsUnpickler error:', 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else line)
    return lines[0] if lines else type(exc).__name__


def safe_loading_supported() -> bool:
    """Whether this torch can inspect and allow-list pickled globals for ``weights_only``.

    Returns:
        bool: True when ``torch.serialization`` has ``get_unsafe_globals_in_checkpoint`` and
        ``safe_globals``; without them checkpoints are unpickled fully, as mmengine does.
    """
    s = torch.serialization
    return hasattr(s, 'get_unsafe_globals_in_checkpoint') and hasattr(s, 'safe_globals')


def _full_load(filename, map_location):
    return torch.load(filename, map_location=map_location, weights_only=False)


class CorruptCheckpointError(UserInputError, ValueError):
    """A checkpoint file that torch cannot read at all (empty, truncated, another format)."""


def load_checkpoint_file(filename: Union[str, os.PathLike],
                         map_location: Optional[Union[str, torch.device, Callable]] = None,
                         trusted: Optional[bool] = None) -> Any:
    """Load a local checkpoint file as the module doc describes (steps 1-3).

    Args:
        filename (str or os.PathLike): the checkpoint file (``~`` expanded).
        map_location (str or torch.device or Callable, optional): as for ``torch.load``.
        trusted (bool, optional): True allows full unpickling of unknown globals, False
            never, None (default) when the file was marked trusted or
            ``MMHANDMIM_TRUST_CHECKPOINTS=1``.

    Returns:
        Any: what ``torch.load`` returns (usually a dict).

    Raises:
        FileNotFoundError: the file does not exist.
        UnsafeCheckpointError: it holds pickled globals that are not allowed and it is not
            trusted.
        CorruptCheckpointError: torch cannot read it (empty, truncated, another format).
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'Checkpoint not found: {filename!r}. Check the path given to --resume, '
            'load_from or init_cfg.checkpoint.')
    try:
        return _load_checkpoint_file(filename, map_location, trusted)
    except UnsafeCheckpointError:
        raise
    # what torch raises for files that are not (complete) checkpoints, deep in its reader
    except (EOFError, IndexError, RuntimeError, OSError, pickle.UnpicklingError) as exc:
        detail = ' '.join(str(exc).split())[:200] or type(exc).__name__
        raise CorruptCheckpointError(
            f'cannot read checkpoint {filename!r} ({type(exc).__name__}: {detail}): it is '
            'empty, truncated or not a PyTorch checkpoint; re-download or re-save it') from exc


def _load_checkpoint_file(filename, map_location, trusted):
    if not safe_loading_supported():  # old torch: it has no weights_only default either
        return _full_load(filename, map_location)
    if trusted is None:
        trusted = _is_trusted(filename)
    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(filename)
    except Exception:  # noqa: BLE001 - legacy (non-zip) format: cannot be inspected
        unsafe = None
    if unsafe == []:
        return torch.load(filename, map_location=map_location, weights_only=True)
    reason = None
    if unsafe is not None:
        allowed = {name: _allowed_global(name) for name in unsafe}
        unknown = sorted(n for n, obj in allowed.items() if obj is None)
        if not unknown:
            safe = [(obj, n) for n, obj in allowed.items()]
            if 'numpy.dtype' in allowed:
                safe += _numpy_dtype_classes()
            try:
                with torch.serialization.safe_globals(safe):
                    ckpt = torch.load(filename, map_location=map_location, weights_only=True)
                _log(f'{filename} is a training checkpoint: loaded with weights_only=True, '
                     f'allowing its {len(allowed)} mmengine/numpy classes '
                     f'({", ".join(sorted(allowed))})')
                return ckpt
            except pickle.UnpicklingError as exc:
                reason = _unpickling_reason(exc)
        else:
            reason = f'it holds pickled objects of unknown type: {", ".join(unknown)}'
    else:
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError as exc:
            reason = _unpickling_reason(exc)
    if trusted:
        _log(f'{filename}: {reason}; unpickling it fully because it is trusted (this run\'s '
             f'own checkpoint, or {TRUST_ENV}=1)', logging.WARNING)
        return _full_load(filename, map_location)
    raise UnsafeCheckpointError(
        f'refusing to load {filename}: {reason}. weights_only loading cannot read it and full '
        'unpickling can run code stored in the file. If you trust the file, set '
        f'{TRUST_ENV}=1 (or convert it to a plain state dict of tensors)')


def load_local_checkpoint(filename: str,
                          map_location: Optional[Union[str, torch.device, Callable]] = None
                          ) -> Any:
    """``CheckpointLoader`` scheme for local paths (registered by :func:`install`).

    Args:
        filename (str): the checkpoint file.
        map_location (str or torch.device or Callable, optional): as for ``torch.load``.

    Returns:
        Any: the checkpoint, see :func:`load_checkpoint_file` (also for the errors raised).
    """
    return load_checkpoint_file(filename, map_location)
