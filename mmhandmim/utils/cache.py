"""The package's on-disk cache (generated models, parsed annotation arrays).

``$MMHANDMIM_CACHE`` overrides the default ``~/.cache/mmhandmim``. Entries are published
atomically (``atomic_io``) so a killed process never leaves a truncated one behind, and each
entry is built once per machine: the builder holds an exclusive ``flock`` on a lock file
beside the entry, every other process (ranks of a node, dataloader workers) blocks on it and
then opens the finished entry.
"""
import contextlib
import hashlib
import os
import shutil
from typing import Callable, Dict, Iterator, Optional, Sequence

import numpy as np

from .atomic_io import atomic_directory

try:  # POSIX; elsewhere each process builds its own copy (the publish stays atomic)
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

CACHE_ENV = 'MMHANDMIM_CACHE'


def cache_root() -> str:
    return os.path.expanduser(os.environ.get(CACHE_ENV) or '~/.cache/mmhandmim')


def file_fingerprint(*paths) -> str:
    """Hash of absolute paths, sizes and mtimes: changes when any source file changes."""
    h = hashlib.sha1()
    for p in paths:
        st = os.stat(p)
        h.update(f'{os.path.abspath(p)}|{st.st_size}|{st.st_mtime_ns};'.encode())
    return h.hexdigest()[:16]


@contextlib.contextmanager
def exclusive_lock(path: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed) for the block.

    The kernel releases the lock when the holder exits or is killed, so a crashed builder
    never blocks the others; the lock file itself is left in place (removing it would let a
    late process lock a different inode than the waiters).
    """
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # blocks until the builder is done
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _remove_leftovers(folder: str) -> None:
    """Remove the temporary folders of builders that were killed (called under the lock,
    so no live process is writing one; the parsed FreiHAND arrays are GBs)."""
    if fcntl is None:  # pragma: no cover - without the lock another builder may be alive
        return
    parent, prefix = os.path.split(folder)
    for name in os.listdir(parent):
        if name.startswith(f'{prefix}.tmp'):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def cached_arrays(name: str, sources: Sequence[str], build: Callable[[], Dict[str, np.ndarray]],
                  cache_dir: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Return the arrays ``build()`` makes from ``sources``, parsing the sources only once.

    The arrays are stored as ``.npy`` files in a folder keyed by the sources' fingerprint and
    opened memory-mapped, so a second start is fast and worker processes share the pages.
    When several processes ask for a missing entry at once, exactly one builds it; the others
    wait on the entry's lock and open its result. If the build raises, nothing is published
    and the next waiter tries (and reports the same problem) itself.

    Args:
        name: prefix of the entry's folder name (say what and which version of the format).
        sources: the files the arrays come from (their fingerprint keys the entry).
        build: makes the dict of arrays; called at most once per machine and fingerprint.
        cache_dir: the folder of the entries (default ``$MMHANDMIM_CACHE/arrays``).

    Returns:
        Dict[str, np.ndarray]: read-only memory-mapped arrays, by key.
    """
    key = file_fingerprint(*sources)
    root = cache_dir or os.path.join(cache_root(), 'arrays')
    folder = os.path.join(root, f'{name}-{key}')
    if not os.path.isdir(folder):
        os.makedirs(root, exist_ok=True)
        with exclusive_lock(f'{folder}.lock'):
            if not os.path.isdir(folder):  # not built by the process we waited for
                _remove_leftovers(folder)
                with atomic_directory(folder) as tmp:
                    for k, v in build().items():
                        np.save(os.path.join(tmp, f'{k}.npy'), np.ascontiguousarray(v))
    return {f[:-4]: np.load(os.path.join(folder, f), mmap_mode='r')
            for f in sorted(os.listdir(folder)) if f.endswith('.npy')}
