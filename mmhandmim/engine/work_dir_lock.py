"""One training run per work dir, and work dir problems on one line.

Two trainings into one work dir would overwrite each other's checkpoints. A run holds an
exclusive ``fcntl.flock`` on ``<work_dir>/.lock`` for its whole life; the file records the
holder (pid, host, start time, command) for the refusal message. The kernel drops the lock
when its process dies however it dies, so a lock left by a killed run is no obstacle; the file
stays (deleting a lock file races with a process that has just opened it). Its record is
written in place, not through ``atomic_io``: replacing the file would replace the locked inode.

In a distributed run only rank 0 takes the lock and broadcasts the verdict, so when it refuses
every rank stops with it instead of waiting for rank 0 in the first collective.

A read-only work dir or a full disk ends the run with a :class:`WorkDirError` naming the path
and the errno's meaning (exit 2), not with the library's traceback.
"""
import errno
import fcntl
import json
import os
import os.path as osp
import socket
import tempfile
import time
from contextlib import contextmanager
from typing import Iterator, Optional

from ..utils.errors import UserInputError

LOCK_NAME = '.lock'
#: errnos that mean the work dir cannot be written, whichever write hits them
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)
_HINTS = {
    errno.ENOSPC: 'free space on its disk or choose another --work-dir',
    errno.EDQUOT: 'free space within your quota or choose another --work-dir',
    errno.EROFS: 'its file system is read-only: choose another --work-dir',
    errno.EACCES: 'fix its permissions or choose another --work-dir',
    errno.EPERM: 'fix its permissions or choose another --work-dir',
}


class WorkDirError(UserInputError, OSError):
    """The work dir cannot be written (read-only, full disk, no permission)."""


class WorkDirBusyError(UserInputError, RuntimeError):
    """Another live run holds the work dir."""


def errno_meaning(exc: OSError) -> str:
    """``'No space left on device (ENOSPC)'`` for an OSError."""
    if exc.errno is None:
        return str(exc)
    return f'{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})'


def work_dir_error(path: str, exc: OSError, what: str = 'write') -> WorkDirError:
    """The one-line :class:`WorkDirError` for ``exc`` raised while writing ``path``.

    Args:
        path (str): the file or folder that could not be written.
        exc (OSError): the error.
        what (str): what was being done (``'write checkpoint'``).

    Returns:
        WorkDirError: with the errno of ``exc``.
    """
    hint = _HINTS.get(exc.errno, 'check the path or choose another --work-dir')
    err = WorkDirError(f'cannot {what} {path}: {errno_meaning(exc)}; {hint}')
    err.errno = exc.errno
    return err


def check_work_dir_writable(work_dir: str) -> None:
    """Create ``work_dir`` if needed and write (then remove) a probe file in it.

    Args:
        work_dir (str): the run's work dir.

    Raises:
        WorkDirError: it cannot be created or written.
    """
    try:
        os.makedirs(work_dir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix='.write_probe.', dir=work_dir)
        try:
            os.write(fd, b'probe')
            os.fsync(fd)
        finally:
            os.close(fd)
            os.remove(probe)
    except OSError as exc:
        raise work_dir_error(work_dir, exc, 'write to the work dir') from exc


@contextmanager
def work_dir_write_errors(work_dir: str) -> Iterator[None]:
    """Turn an OSError of a write into the run's files (logs, scalars, config dump: mmengine
    writes them) into a :class:`WorkDirError`; other errors pass unchanged.

    Args:
        work_dir (str): the run's work dir.
    """
    root = osp.realpath(work_dir)
    try:
        yield
    except UserInputError:
        raise
    except OSError as exc:
        path = os.fspath(exc.filename) if exc.filename is not None else None
        inside = path is not None and osp.realpath(path).startswith(root + os.sep)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS) or (
                inside and exc.errno in WRITE_ERRNOS):
            raise work_dir_error(path or work_dir, exc) from exc
        raise


class WorkDirLock:
    """An exclusive, non-blocking ``flock`` on ``<work_dir>/.lock``.

    Args:
        work_dir (str): the work dir (created when missing).
    """

    def __init__(self, work_dir: str) -> None:
        self.work_dir = work_dir
        self.path = osp.join(work_dir, LOCK_NAME)
        self._fd: Optional[int] = None

    def acquire(self, command: str) -> None:
        """Take the lock and record the holder.

        Args:
            command (str): the command line of this run, for another run's message.

        Raises:
            WorkDirBusyError: a live process holds it.
            WorkDirError: the lock file cannot be created or written.
        """
        check_work_dir_writable(self.work_dir)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise work_dir_error(self.path, exc, 'create the lock file') from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise WorkDirBusyError(
                f'work dir {self.work_dir} is in use by another run ({holder}); wait for it '
                'to end or stop it, or train into another --work-dir') from None
        except OSError:  # e.g. ENOLCK: a file system without flock; run unlocked
            os.close(fd)
            return
        record = dict(pid=os.getpid(), host=socket.gethostname(),
                      start=time.strftime('%Y-%m-%d %H:%M:%S'), command=command)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + '\n').encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise work_dir_error(self.path, exc, 'write the lock file') from exc
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; see the module doc)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _holder(fd):
    try:
        rec = json.loads(os.pread(fd, 65536, 0).decode() or '{}')
        return (f'pid {rec["pid"]} on {rec["host"]}, started {rec["start"]}: '
                f'{rec["command"]}')
    except (OSError, ValueError, KeyError, UnicodeDecodeError):
        return 'holder unknown: its lock file is being written'


def _dist_info():
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


_ERRORS = {cls.__name__: cls for cls in (WorkDirError, WorkDirBusyError)}


@contextmanager
def hold_work_dir(work_dir: str, command: str) -> Iterator[Optional[WorkDirLock]]:
    """Hold ``work_dir``'s lock for the block (rank 0 of a distributed run; see module doc).

    Args:
        work_dir (str): the run's work dir.
        command (str): the run's command line, recorded in the lock file.

    Yields:
        WorkDirLock, optional: the held lock (None on ranks other than 0).

    Raises:
        WorkDirBusyError: another live run holds it (on every rank).
        WorkDirError: it cannot be written (on every rank).
    """
    rank, world = _dist_info()
    lock, error = None, None
    if rank == 0:
        lock = WorkDirLock(work_dir)
        try:
            lock.acquire(command)
        except (WorkDirBusyError, WorkDirError) as exc:
            error = exc
    if world > 1:
        from mmengine.dist import broadcast_object_list
        verdict = [None if error is None else (type(error).__name__, str(error))]
        broadcast_object_list(verdict, src=0)
        if rank != 0 and verdict[0] is not None:
            error = _ERRORS[verdict[0][0]](f'rank 0 refused: {verdict[0][1]}')
        if error is not None:
            # every rank has the verdict before any leaves: rank 0 hosts the store, and a
            # peer still receiving when it exits aborts (SIGABRT) instead of exiting 2
            import torch.distributed as dist
            dist.barrier()
            dist.destroy_process_group()
    if error is not None:
        raise error
    try:
        yield lock
    finally:
        if lock is not None:
            lock.release()
