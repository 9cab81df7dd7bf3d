"""Atomic checkpoint saves: ``LocalBackend.put`` through ``atomic_io``, and ``CheckpointHook``
removals of old checkpoints deferred until the new one is on disk (see the package doc)."""
import functools
import logging
import os
import os.path as osp

from ...utils.atomic_io import atomic_write_bytes
from ..work_dir_lock import WRITE_ERRNOS, work_dir_error
from ._log import _log


def _atomic_put(original):
    @functools.wraps(original)
    def put(self, obj, filepath):
        path = os.fspath(filepath)
        # write through links and into special files as before
        if osp.islink(path) or (osp.exists(path) and not osp.isfile(path)):
            return original(self, obj, filepath)
        try:
            atomic_write_bytes(obj, path)
        except OSError as exc:
            if exc.errno not in WRITE_ERRNOS:
                raise
            # a full disk or read-only work dir: one line naming the file, exit 2 (the
            # temporary is gone and the previous checkpoints are intact)
            raise work_dir_error(path, exc, 'write checkpoint') from exc
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
