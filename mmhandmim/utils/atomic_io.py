"""Atomic file output: the one way the package and its tools write a file a reader may see.

A reader (or a crashed run's resume) sees either the old content or all of the new: the data
goes to a temporary file beside the target, is fsync'ed, ``os.replace``\\ d onto the target
and the folder is fsync'ed. On any failure the temporary file is removed.
"""
import os
import os.path as osp
import shutil
import uuid
from contextlib import contextmanager
from typing import Iterator, Union

PathLike = Union[str, 'os.PathLike[str]']


def _tmp_prefix(path: str) -> str:
    return f'.{osp.basename(path)}.tmp.'


def fsync_dir(folder: str) -> None:
    """fsync a folder so a rename in it survives a power cut (no-op where unsupported)."""
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


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temporaries(folder: str, prefix: str) -> None:
    # temporary files of this name left by writers that were killed
    for name in os.listdir(folder):
        if name.startswith(prefix):
            try:
                os.remove(osp.join(folder, name))
            except OSError:
                pass


@contextmanager
def atomic_output(path: PathLike) -> Iterator[str]:
    """Yield a temporary path to write ``path``'s new content to; it becomes ``path`` when
    the block ends without an error and is removed otherwise.

    The file mode of an existing ``path`` is kept. Use it with any writer that takes a path
    (``zipfile``, ``torch.save``, ``open``). The temporary name has no suffix of the target's
    (a glob for ``*.pth`` never meets a half-written file), so give writers that append a
    missing suffix (``np.savez``, ``np.save``) a file object.
    """
    path = os.fspath(path)
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = _tmp_prefix(path)
    tmp = osp.join(folder, f'{prefix}{os.getpid()}.{uuid.uuid4().hex[:8]}')
    mode = os.stat(path).st_mode & 0o7777 if osp.isfile(path) else None
    try:
        yield tmp
        _fsync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise
    fsync_dir(folder)
    _remove_stale_temporaries(folder, prefix)


def atomic_write_bytes(data: bytes, path: PathLike) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_output``)."""
    with atomic_output(path) as tmp, open(tmp, 'wb') as f:
        f.write(data)


def atomic_write_text(text: str, path: PathLike, encoding: str = 'utf-8') -> None:
    """Write ``text`` to ``path`` atomically (see ``atomic_output``)."""
    atomic_write_bytes(text.encode(encoding), path)


@contextmanager
def atomic_directory(path: PathLike) -> Iterator[str]:
    """Yield a temporary folder that becomes ``path`` when the block succeeds.

    When another process published ``path`` first, its copy is kept and ours is dropped (both
    were built from the same inputs). On failure the temporary folder is removed.
    """
    path = os.fspath(path)
    tmp = f'{path}.tmp{os.getpid()}.{uuid.uuid4().hex[:8]}'
    os.makedirs(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        os.replace(tmp, path)
    except OSError:  # another process finished first: use its copy
        shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(osp.dirname(osp.abspath(path)))
