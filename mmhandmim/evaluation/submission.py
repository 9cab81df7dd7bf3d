"""Read, check and write FreiHAND/HO3D submission files (``pred.json``, ``pred.zip``).

``pred.json`` is ``[xyz_list, verts_list]``: N entries of (21, 3) joints and N entries of
(V, 3) vertices, metres, in the dataset's camera frame. Codalab wants ``pred.json`` at the
root of ``pred.zip`` (``zip -j``).
"""
import json
import mmap
import os
import zipfile
from typing import Tuple, Union

import numpy as np

from ..utils.atomic_io import atomic_output, atomic_write_text
from ..utils.cache import cached_arrays
from ..utils.errors import UserInputError
from ..utils.memory import empty_array
from .functional._array import ArrayLike
from .functional.validation import check_points
from ..utils.json_arrays import parse_array_list
from .prediction_checks import check_units


class SubmissionError(UserInputError, ValueError):
    """A prediction or ground-truth file that cannot be evaluated; the message says why."""


def _read_bytes(path):
    """The JSON bytes of ``path``: a .json file or a .zip holding ``pred.json``."""
    if not os.path.isfile(path):
        raise SubmissionError(f'{path}: file not found')
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith('/')]
            root = [n for n in names if n == 'pred.json']
            jsons = [n for n in names if n.endswith('.json')]
            member = root[0] if root else (jsons[0] if len(jsons) == 1 else None)
            if member is None:
                raise SubmissionError(f'{path}: zip archive has no pred.json at its root '
                                      f'(members: {names[:5]})')
            return zf.read(member), f'{path}:{member}'
    return _map_file(path), path


def _map_file(path):
    """The file's bytes as a read-only mmap (bytes if empty): the parser reads it piece by
    piece, and mapping the page cache saves a file-sized copy and its page faults."""
    with open(path, 'rb') as f:
        if os.fstat(f.fileno()).st_size == 0:
            return b''
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _json_error(where, raw, exc):
    hint = ' (the file looks truncated)' if exc.pos >= len(raw.rstrip()) - 1 else ''
    return SubmissionError(f'{where}: invalid JSON at line {exc.lineno} column {exc.colno} '
                           f'(char {exc.pos}): {exc.msg}{hint}')


def _slow_load(raw, where):
    """``json.loads`` with the decoding error turned into a message naming file and place."""
    raw = bytes(raw)  # json wants bytes, not an mmap
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise _json_error(where, raw, exc) from None
    except UnicodeDecodeError as exc:
        raise SubmissionError(f'{where}: not a UTF-8 JSON text ({exc.reason} at byte '
                              f'{exc.start})') from None


def _entries_to_array(entries, name, where):
    """Stack a list of (K, 3) entries, naming the first entry that breaks the pattern."""
    if not isinstance(entries, list):
        raise SubmissionError(f'{where}: {name} must be a list of (K, 3) lists, '
                              f'got {type(entries).__name__}')
    try:
        arr = np.asarray(entries, dtype=np.float64)
    except (ValueError, TypeError):
        arr = None
    if arr is not None and arr.ndim == 3 and arr.shape[-1] == 3:
        return arr
    first = None
    for i, entry in enumerate(entries):  # only reached for malformed files, to name the entry
        try:
            shape = np.asarray(entry, dtype=np.float64).shape
        except (ValueError, TypeError):
            raise SubmissionError(f'{where}: {name} entry {i} is not a (K, 3) list of '
                                  'numbers') from None
        if len(shape) != 2 or shape[1] != 3 or (first is not None and shape != first):
            expected = f'{first} like entry 0' if first is not None else '(K, 3)'
            raise SubmissionError(f'{where}: {name} entry {i} has shape {shape}, '
                                  f'expected {expected}')
        first = first or shape
    raise SubmissionError(f'{where}: {name} must be a non-empty list of (K, 3) lists')


def _arrays_from(raw, where, top_level_list):
    fast = parse_array_list(raw, top_level_list=top_level_list)
    if fast is not None:
        return fast
    data = _slow_load(raw, where)
    if not top_level_list:
        return _entries_to_array(data, 'the file', where)
    if not isinstance(data, list) or len(data) != 2:
        got = f'a list of {len(data)}' if isinstance(data, list) else type(data).__name__
        raise SubmissionError(f'{where}: expected a 2-element list [xyz_list, verts_list], '
                              f'got {got}')
    return [_entries_to_array(data[0], 'xyz_list', where),
            _entries_to_array(data[1], 'verts_list', where)]


def load_prediction(path: Union[str, os.PathLike],
                    expect_metres: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``pred.json`` (or a .zip holding it) into float64 (N, J, 3), (N, V, 3) arrays.

    Checks the structure (two lists of equally many (K, 3) entries), finiteness and the units
    (``prediction_checks.check_units``: a hand is 0.1-0.3 m); the sample and vertex counts
    against the ground truth are checked by the evaluation.

    Args:
        path (str or os.PathLike): ``pred.json``, or a .zip with ``pred.json`` at its root
            (or a single .json member).
        expect_metres (bool): refuse joints or vertices that are clearly not metres
            (False: read them as they are, e.g. to convert a file).

    Returns:
        Tuple[np.ndarray, np.ndarray]: joints (N, J, 3) and vertices (N, V, 3).

    Raises:
        SubmissionError: (a ValueError) with the file and the problem.
        prediction_checks.UnitError: (a ValueError) the points are in mm or cm.
    """
    raw, where = _read_bytes(path)
    arrays = _arrays_from(raw, where, top_level_list=True)
    if len(arrays) != 2:
        raise SubmissionError(f'{where}: expected a 2-element list [xyz_list, verts_list], '
                              f'got a list of {len(arrays)}')
    xyz, verts = arrays
    if xyz.ndim != 3 or verts.ndim != 3:
        raise SubmissionError(f'{where}: expected [N x (J, 3), N x (V, 3)] lists, got '
                              f'shapes {xyz.shape} and {verts.shape}')
    if xyz.shape[0] != verts.shape[0]:
        raise SubmissionError(f'{where}: xyz_list has {xyz.shape[0]} entries but verts_list '
                              f'has {verts.shape[0]}')
    try:
        check_points(xyz, 'xyz_list')
        check_points(verts, 'verts_list')
    except ValueError as exc:
        raise SubmissionError(f'{where}: {exc}') from None
    if expect_metres:
        check_units(xyz, 'xyz_list', where)
        check_units(verts, 'verts_list', where)
    return xyz, verts


def _parse_gt(paths):
    arrays = {}
    for kind, path in zip(('xyz', 'verts'), paths):
        arr = _arrays_from(_map_file(path), path, top_level_list=False)
        try:
            arrays[kind] = check_points(arr, os.path.basename(path))
        except ValueError as exc:
            raise SubmissionError(f'{path}: {exc}') from None
    return arrays


def load_gt(gt_dir: Union[str, os.PathLike], split: str = 'evaluation',
            use_cache: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Read ``{split}_xyz.json`` and ``{split}_verts.json`` from ``gt_dir`` as float64 arrays.

    These two files are all the official evaluation needs (FreiHAND's ``*_mano.json``,
    ``*_K.json`` and ``*_scale.json`` are not read). The ground truth is the same for every
    evaluation, so it is parsed once and kept as ``.npy`` files in the package cache (keyed
    by the files' paths, sizes and times). Its units are checked as the predictions'.

    Args:
        gt_dir (str or os.PathLike): the folder of the two files.
        split (str): the files' prefix.
        use_cache (bool): use (and fill) the package cache; False: always parse.

    Returns:
        Tuple[np.ndarray, np.ndarray]: joints (N, J, 3) and vertices (N, V, 3).

    Raises:
        SubmissionError: a file is missing or malformed, or the two sample counts differ.
        prediction_checks.UnitError: the points are in mm or cm.
    """
    paths = [os.path.join(gt_dir, f'{split}_{kind}.json') for kind in ('xyz', 'verts')]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise SubmissionError(f'ground truth file(s) not found: {", ".join(missing)}')
    if use_cache:
        cached = cached_arrays('eval-gt', paths, lambda: _parse_gt(paths))
        arrays = [_read_copy(cached['xyz']), _read_copy(cached['verts'])]
    else:
        arrays = [_parse_gt(paths)[k] for k in ('xyz', 'verts')]
    if arrays[0].shape[0] != arrays[1].shape[0]:
        raise SubmissionError(f'{gt_dir}: {arrays[0].shape[0]} joint entries but '
                              f'{arrays[1].shape[0]} vertex entries')
    for arr, path in zip(arrays, paths):
        check_units(arr, 'the ground-truth points', path)
    return arrays[0], arrays[1]


def _read_copy(memmap):
    """A private copy of a cached ``.npy`` memmap, read straight into (huge-page) memory:
    copying from the mapping would fault in the file's pages as well as the copy's."""
    out = empty_array(memmap.shape, memmap.dtype)
    if not (memmap.flags.c_contiguous and isinstance(memmap, np.memmap)):
        out[...] = memmap
        return out
    with open(memmap.filename, 'rb') as f:
        f.seek(memmap.offset)
        if f.readinto(memoryview(out.reshape(-1)).cast('B')) != out.nbytes:
            raise SubmissionError(f'{memmap.filename}: cached array is truncated')
    return out


def write_submission(xyz: ArrayLike, verts: ArrayLike, out_dir: str,
                     overwrite: bool = False) -> Tuple[str, str]:
    """Write ``pred.json`` and ``pred.zip`` (``pred.json`` at the zip root) into ``out_dir``.

    Both files are written atomically: an interrupted run leaves no half-written file.

    Args:
        xyz (ArrayLike): (N, 21, 3) joints, metres, dataset camera frame.
        verts (ArrayLike): (N, V, 3) vertices, metres, dataset camera frame.
        out_dir (str): the output folder (created).
        overwrite (bool): replace existing files (otherwise FileExistsError).

    Returns:
        Tuple[str, str]: ``(json_path, zip_path)``.

    Raises:
        ValueError: malformed or non-finite arrays, or different sample counts.
        FileExistsError: a file exists and ``overwrite`` is False.
    """
    xyz = check_points(xyz, 'xyz')
    verts = check_points(verts, 'verts', num_samples=xyz.shape[0])
    json_path = os.path.join(out_dir, 'pred.json')
    zip_path = os.path.join(out_dir, 'pred.zip')
    if not overwrite:
        existing = [p for p in (json_path, zip_path) if os.path.exists(p)]
        if existing:
            raise FileExistsError(f'refusing to overwrite {", ".join(existing)} '
                                  '(pass overwrite=True)')
    os.makedirs(out_dir, exist_ok=True)
    text = json.dumps([xyz.tolist(), verts.tolist()])
    # atomic: an interrupted run leaves no half-written file
    atomic_write_text(text, json_path)
    with atomic_output(zip_path) as tmp:
        _write_zip(tmp, text)
    return json_path, zip_path


def _write_zip(path, text):
    with zipfile.ZipFile(path, 'w', compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr('pred.json', text)
