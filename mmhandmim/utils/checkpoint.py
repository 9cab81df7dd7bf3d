"""Checkpoint safety for mmengine runs: atomic saves, auto-resume that never picks a broken
file, safe loading of checkpoints from elsewhere, and visible key mismatches.

``install()`` applies all of it to mmengine; ``mmhandmim.compat`` calls it at import, so every
entry point, config (``custom_imports=['mmhandmim']``) and test gets it.

Saving (a kill at any moment leaves a resumable work dir):

* ``LocalBackend.put`` (through which ``mmengine.runner.checkpoint.save_checkpoint`` writes
  every local checkpoint) writes to a hidden temporary file in the same folder, fsyncs it and
  ``os.replace``\\ s it onto the final name, so a file named ``epoch_N.pth`` is always complete.
  Patching the backend rather than ``save_checkpoint`` catches every importer of that
  function (``Runner``, ``CheckpointHook``'s publishing) with one patch.
* ``CheckpointHook`` removes the oldest checkpoint (``max_keep_ckpts``) and the previous best
  one *before* writing the new one; with ``max_keep_ckpts=1`` a kill during the save would leave
  no checkpoint at all. Its removals are deferred until the new checkpoint and
  ``last_checkpoint`` are written. (A kill between the two leaves one extra old file behind.)
* Auto-resume (``--resume`` without a path) reads ``last_checkpoint``; when it is missing,
  empty, names a missing file, or a truncated one (written by something else than this
  patched backend), the newest complete ``epoch_*.pth``/``iter_*.pth`` of the work dir is
  used instead, with a warning.

Loading (``CheckpointLoader``'s local-file scheme, used by ``load_from``, ``--resume`` and
``init_cfg=dict(type='Pretrained')``):

1. a file holding only tensors and plain containers (an extracted backbone, most released
   weights) is read with ``torch.load(weights_only=True)``;
2. an mmengine training checkpoint also holds ``HistoryBuffer``\\ s and numpy arrays (message
   hub, RNG states, dataset metainfo): it is still read with ``weights_only=True``, allowing
   exactly those classes (``TRAINING_CHECKPOINT_GLOBALS``) and logging a note;
3. anything else (unknown pickled globals) is refused with an ``UnsafeCheckpointError`` that
   lists them, unless the file is trusted: the checkpoint auto-resume found in the run's own
   work dir, or any file when ``MMHANDMIM_TRUST_CHECKPOINTS=1`` is set. Trusted files are
   unpickled fully (which can run code stored in the file), with a warning.

Loading a state dict that does not match the model (``strict=False``, as ``Pretrained``
init does) logs one WARNING with the numbers and names of missing and unexpected keys.
"""
import functools
import logging
import os
import os.path as osp
import pickle
import re
import uuid
import zipfile

import torch

from .cli import UserInputError

#: environment variable that allows full unpickling of checkpoints with unknown globals
TRUST_ENV = 'MMHANDMIM_TRUST_CHECKPOINTS'
_TRUSTED_PATHS = set()
_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def _log(msg, level=logging.INFO):
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)


# ========================================================================================
# saving
# ========================================================================================
def _tmp_prefix(path):
    return f'.{osp.basename(path)}.tmp.'


def atomic_write_bytes(data, path):
    """Write ``data`` to ``path`` so that ``path`` is either its old content or all of
    ``data``: temporary file beside it, fsync, ``os.replace``, fsync of the folder."""
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = osp.join(folder, f'{_tmp_prefix(path)}{os.getpid()}.{uuid.uuid4().hex[:8]}')
    mode = None
    if osp.isfile(path):
        mode = os.stat(path).st_mode & 0o7777
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # umask applies
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(folder)
    # temporary files of this name left by killed writers
    prefix = _tmp_prefix(path)
    for name in os.listdir(folder):
        if name.startswith(prefix):
            try:
                os.remove(osp.join(folder, name))
            except OSError:
                pass


def _fsync_dir(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # e.g. Windows: directories cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_put(original):
    @functools.wraps(original)
    def put(self, obj, filepath):
        path = os.fspath(filepath)
        # write through links and into special files as before
        if osp.islink(path) or (osp.exists(path) and not osp.isfile(path)):
            return original(self, obj, filepath)
        atomic_write_bytes(obj, path)
    put._mmhandmim_atomic = True
    return put


class _DeferredRemovalBackend:
    """A file backend whose ``remove``/``rmtree`` are recorded instead of done."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def remove(self, path):
        self.pending.append(('remove', path))

    def rmtree(self, path):
        self.pending.append(('rmtree', path))


def _deferring_removals(method):
    """Run a ``CheckpointHook`` saving method with its removals done after the save."""
    @functools.wraps(method)
    def wrapper(self, runner, *args, **kwargs):
        backend = getattr(self, 'file_backend', None)
        if backend is None or isinstance(backend, _DeferredRemovalBackend):
            return method(self, runner, *args, **kwargs)
        proxy = _DeferredRemovalBackend(backend)
        self.file_backend = proxy
        try:
            result = method(self, runner, *args, **kwargs)
        finally:
            self.file_backend = backend
        just_saved = {getattr(self, 'last_ckpt', None), getattr(self, 'best_ckpt_path', None)}
        just_saved |= set((getattr(self, 'best_ckpt_path_dict', None) or {}).values())
        for op, path in proxy.pending:
            if path in just_saved:
                continue
            try:
                if op == 'rmtree' and backend.isdir(path):
                    backend.rmtree(path)
                elif op == 'remove' and backend.isfile(path):
                    backend.remove(path)
            except OSError as exc:
                _log(f'could not remove old checkpoint {path}: {exc}', logging.WARNING)
        return result
    wrapper._mmhandmim_deferred = True
    return wrapper


def is_complete_checkpoint(path):
    """False for a file that cannot be a whole ``torch.save`` output: missing, empty, or a
    zip archive (torch's format since 1.6) without its central directory (truncated)."""
    try:
        if not osp.isfile(path) or os.path.getsize(path) == 0:
            return False
        with open(path, 'rb') as f:
            head = f.read(4)
    except OSError:
        return False
    if head != b'PK\x03\x04':
        return True  # legacy (non-zip) torch format: cannot tell, trust it
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith('data.pkl') for n in z.namelist())
    except (zipfile.BadZipFile, OSError, EOFError):
        return False


def _checkpoints_in(folder):
    found = []
    try:
        names = os.listdir(folder)
    except OSError:
        return found
    for name in names:
        m = _CKPT_NAME.match(name)
        path = osp.join(folder, name)
        if m and is_complete_checkpoint(path):
            found.append((os.path.getmtime(path), int(m.group(2)), path))
    return [p for *_, p in sorted(found)]


def find_latest_checkpoint(path):
    """mmengine's ``find_latest_checkpoint`` that never returns a missing or truncated file.

    Returns what ``last_checkpoint`` names when that is a complete file, else the newest
    complete ``epoch_*.pth``/``iter_*.pth`` in ``path`` (warning), else None. The returned
    file is marked trusted: it is this run's own checkpoint (see module doc).
    """
    save_file = osp.join(path, 'last_checkpoint')
    named = None
    if osp.exists(save_file):
        with open(save_file) as f:
            named = f.read().strip() or None
    if named is not None and ('://' in named or is_complete_checkpoint(named)):
        if '://' not in named:
            mark_trusted(named)
        return named
    candidates = _checkpoints_in(path)
    if named is None and not osp.exists(save_file) and not candidates:
        _log('Did not find last_checkpoint to be resumed.')
        return None
    if named is None:
        problem = f'{save_file} is missing or empty'
    elif not osp.exists(named):
        problem = f'{save_file} names {named}, which does not exist'
    else:
        problem = f'{save_file} names {named}, which is incomplete (truncated)'
    if not candidates:
        _log(f'{problem}, and {path} holds no complete epoch_*.pth/iter_*.pth: '
             'training starts from scratch', logging.WARNING)
        return None
    _log(f'{problem}; resuming from the newest complete checkpoint {candidates[-1]} '
         'instead', logging.WARNING)
    mark_trusted(candidates[-1])
    return candidates[-1]


# ========================================================================================
# loading
# ========================================================================================
class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint holds pickled objects that ``weights_only`` loading does not allow."""


def mark_trusted(path):
    """Allow full unpickling of ``path`` (a checkpoint this process itself produced)."""
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


def safe_loading_supported():
    s = torch.serialization
    return hasattr(s, 'get_unsafe_globals_in_checkpoint') and hasattr(s, 'safe_globals')


def _full_load(filename, map_location):
    return torch.load(filename, map_location=map_location, weights_only=False)


class CorruptCheckpointError(UserInputError, ValueError):
    """A checkpoint file that torch cannot read at all (empty, truncated, another format)."""


def load_checkpoint_file(filename, map_location=None, trusted=None):
    """Load a local checkpoint file as the module doc describes (steps 1-3).

    ``trusted``: True allows full unpickling of unknown globals, False never, None (default)
    when the file was marked trusted or ``MMHANDMIM_TRUST_CHECKPOINTS=1``.
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


def load_local_checkpoint(filename, map_location=None):
    """``CheckpointLoader`` scheme for local paths (registered by :func:`install`)."""
    return load_checkpoint_file(filename, map_location)


# ========================================================================================
# key mismatches
# ========================================================================================
def describe_key_mismatch(model_name, missing, unexpected, num_source_keys=None):
    lines = [f'loaded weights do not match {model_name} exactly: {len(missing)} missing '
             f'key(s) (in the model, not in the checkpoint), {len(unexpected)} unexpected '
             'key(s) (in the checkpoint, not in the model)']
    if missing:
        lines.append(f'missing ({len(missing)}): {", ".join(missing)}')
    if unexpected:
        lines.append(f'unexpected ({len(unexpected)}): {", ".join(unexpected)}')
    if num_source_keys is not None and num_source_keys == len(unexpected) and missing:
        lines.append('no key of the checkpoint matched: nothing was loaded (check the '
                     "checkpoint and init_cfg's prefix)")
    return '\n'.join(lines)


def _reporting_load_state_dict(original):
    @functools.wraps(original)
    def load_state_dict(module, state_dict, strict=False, logger=None):
        if strict:
            return original(module, state_dict, strict=strict, logger=logger)
        from mmengine.dist import get_dist_info
        from mmengine.logging import print_log
        from mmengine.model import is_model_wrapper
        target = module.module if is_model_wrapper(module) else module
        seen = {}

        def record(_module, incompatible):
            seen['missing'] = list(incompatible.missing_keys)
            seen['unexpected'] = list(incompatible.unexpected_keys)
        handle = target.register_load_state_dict_post_hook(record)
        try:
            original(module, state_dict, strict=False, logger='silent')
        finally:
            handle.remove()
        missing = [k for k in seen.get('missing', []) if 'num_batches_tracked' not in k]
        unexpected = seen.get('unexpected', [])
        if (missing or unexpected) and get_dist_info()[0] == 0:
            print_log(describe_key_mismatch(type(target).__name__, missing, unexpected,
                                            len(state_dict)),
                      logger=logger if logger not in (None, 'silent') else 'current',
                      level=logging.WARNING)
    load_state_dict._mmhandmim_reporting = True
    return load_state_dict


# ========================================================================================
def install():
    """Apply the patches above to mmengine (idempotent). Returns the names applied now."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.runner.runner as runner_mod
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.hooks import CheckpointHook

    applied = []
    if not getattr(LocalBackend.put, '_mmhandmim_atomic', False):
        LocalBackend.put = _atomic_put(LocalBackend.put)
        applied.append('atomic_put')
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        method = getattr(CheckpointHook, name, None)
        if method is not None and not getattr(method, '_mmhandmim_deferred', False):
            setattr(CheckpointHook, name, _deferring_removals(method))
            applied.append(f'deferred_removal{name}')
    if ckpt_mod.find_latest_checkpoint is not find_latest_checkpoint:
        for mod in (ckpt_mod, runner_mod, runner_pkg):
            if hasattr(mod, 'find_latest_checkpoint'):
                mod.find_latest_checkpoint = find_latest_checkpoint
        applied.append('find_latest_checkpoint')
    if not getattr(ckpt_mod.load_state_dict, '_mmhandmim_reporting', False):
        patched = _reporting_load_state_dict(ckpt_mod.load_state_dict)
        for mod in (ckpt_mod, runner_pkg):
            mod.load_state_dict = patched
        applied.append('key_report')
    if safe_loading_supported():
        from mmengine.runner.checkpoint import CheckpointLoader
        if CheckpointLoader._schemes.get('') is not load_local_checkpoint:
            CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint,
                                             force=True)
            applied.append('safe_loading')
    return applied
