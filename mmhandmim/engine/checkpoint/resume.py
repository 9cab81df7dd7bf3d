"""Auto-resume that never picks a missing or truncated checkpoint (see the package doc)."""
import logging
import os
import os.path as osp
import re
import zipfile
from typing import Optional, Union

from ._log import _log
from .loading import mark_trusted

_CKPT_NAME = re.compile(r'^(epoch|iter)_(\d+)\.pth$')


def is_complete_checkpoint(path: Union[str, os.PathLike]) -> bool:
    """Whether ``path`` can be a whole ``torch.save`` output.

    Args:
        path (str or os.PathLike): the file.

    Returns:
        bool: False for a file that cannot be a whole ``torch.save`` output: missing, empty,
        or a zip archive (torch's format since 1.6) without its central directory
        (truncated). True for a legacy (non-zip) file, which cannot be told.
    """
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


def find_latest_checkpoint(path: str) -> Optional[str]:
    """mmengine's ``find_latest_checkpoint`` that never returns a missing or truncated file.

    Args:
        path (str): the work dir.

    Returns:
        str, optional: what ``last_checkpoint`` names when that is a complete file (or a
        URL), else the newest complete ``epoch_*.pth``/``iter_*.pth`` in ``path``
        (warning), else None. The returned local file is marked trusted: it is this run's
        own checkpoint (see module doc).
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
