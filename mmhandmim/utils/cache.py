"""The package's on-disk cache (generated models, parsed annotation arrays).

``$MMHANDMIM_CACHE`` overrides the default ``~/.cache/mmhandmim``. Entries are published
atomically (``atomic_io``) so a killed process never leaves a truncated one behind.
"""
import hashlib
import os

import numpy as np

from .atomic_io import atomic_directory

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


def cached_arrays(name, sources, build, cache_dir=None):
    """Return the arrays ``build()`` makes from ``sources``, parsing the sources only once.

    The arrays are stored as ``.npy`` files in a folder keyed by the sources' fingerprint and
    opened memory-mapped, so a second start is fast and worker processes share the pages.
    """
    key = file_fingerprint(*sources)
    folder = os.path.join(cache_dir or os.path.join(cache_root(), 'arrays'), f'{name}-{key}')
    if not os.path.isdir(folder):
        with atomic_directory(folder) as tmp:
            for k, v in build().items():
                np.save(os.path.join(tmp, f'{k}.npy'), np.ascontiguousarray(v))
    return {f[:-4]: np.load(os.path.join(folder, f), mmap_mode='r')
            for f in sorted(os.listdir(folder)) if f.endswith('.npy')}
