"""Reading and checking a mean-parameter file: the head's start (``PyMAFMANOHead(mean_params=
...)``) and the evaluator's mean-pose baseline read it here, with the same checks.

The file is the .npz ``tools/misc/compute_mean_mano_params.py`` writes: ``pose6d`` (16, 6),
``betas`` (num_betas,), ``cam`` (3,) and metadata. Only that layout is accepted, key by key and
shape by shape: a wrong shape used to fail at the first forward pass, and a transposed
``pose6d`` (6, 16) was silently reshaped into 16 nonsense rotations (PA-MPJPE 32 instead of
18.5 mm after training). Numpy only (the light evaluator reads it without torch).
"""
import logging
import os
from typing import Dict, Mapping, Optional, Sequence, Union

import numpy as np

from ..utils.errors import UserInputError

NUM_JOINTS = 16
MEAN_PARAMS_TOOL = 'tools/misc/compute_mean_mano_params.py'
#: largest deviation from unit length / orthogonality of a 6D row (the tool writes the two
#: first columns of a rotation matrix in float32: ~1e-7; hand-rounded files stay far below)
ROT6D_TOLERANCE = 1e-2


class MeanParamsError(UserInputError, ValueError):
    """A mean-parameter file the head cannot start from; the message names file and key."""


class MeanParamsNotFoundError(UserInputError, FileNotFoundError):
    """The mean-parameter file does not exist."""


def expected_layout(num_betas: int = 10) -> Dict[str, tuple]:
    """The accepted arrays and their exact shapes.

    Args:
        num_betas (int): the hand model's number of shape parameters.

    Returns:
        Dict[str, tuple]: key -> shape.
    """
    return dict(pose6d=(NUM_JOINTS, 6), betas=(num_betas, ), cam=(3, ))


def _layout_text(num_betas):
    shapes = ', '.join(f'{k} {s}' for k, s in expected_layout(num_betas).items())
    return f'expected {shapes}, as {MEAN_PARAMS_TOOL} writes'


def _read_npz(path):
    if not os.path.isfile(path):
        raise MeanParamsNotFoundError(f'mean_params file not found: {path!r} (write it with '
                                      f'{MEAN_PARAMS_TOOL}, or set mean_params=None)')
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in f.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same line
        msg = ' '.join(str(exc).split())
        raise MeanParamsError(f'{path}: cannot read it as an .npz ({msg}); expected the '
                              f'file {MEAN_PARAMS_TOOL} writes') from None


def _check_rot6d(pose6d, path):
    """Each row must be the two first columns of a rotation: unit and orthogonal. Catches a
    (16, 6) array in another 6D layout (e.g. HMR's interleaved 3x2) as well."""
    a, b = pose6d[:, :3], pose6d[:, 3:]
    err = np.stack([np.abs(np.linalg.norm(a, axis=1) - 1), np.abs(np.linalg.norm(b, axis=1) - 1),
                    np.abs((a * b).sum(1))], 1).max(1)
    bad = np.flatnonzero(err > ROT6D_TOLERANCE)
    if bad.size:
        raise MeanParamsError(
            f"{path}: key 'pose6d' row {bad[0]} is not the 6D of a rotation (its two 3-vectors "
            f'[column 0, column 1] must be unit and orthogonal, deviation {err[bad[0]]:.3g}); '
            f'{len(bad)} of {NUM_JOINTS} rows are not: recompute the file with '
            f'{MEAN_PARAMS_TOOL}')


def _warn_metadata(arrays, path, flat_hand_mean, is_standin):
    """One warning when the file's recorded hand model differs from the head's."""
    notes = []
    if flat_hand_mean is not None and 'flat_hand_mean' in arrays and \
            bool(arrays['flat_hand_mean']) != bool(flat_hand_mean):
        notes.append(f"flat_hand_mean={bool(arrays['flat_hand_mean'])} (the head's: "
                     f'{bool(flat_hand_mean)})')
    if is_standin is not None and 'hand_model' in arrays:
        file_standin = str(arrays['hand_model']).startswith('stand-in')
        if file_standin != bool(is_standin):
            notes.append('the ' + ('stand-in hand model' if file_standin else 'MANO') +
                         " (the head's: " + ('the stand-in' if is_standin else 'MANO') + ')')
    if notes:
        from mmengine.logging import print_log
        print_log(f'{path}: mean parameters computed with {" and ".join(notes)}; recompute '
                  f'them with {MEAN_PARAMS_TOOL} and the head\'s hand model',
                  logger='current', level=logging.WARNING)


def read_mean_params(source: Union[str, os.PathLike, Mapping], num_betas: int = 10,
                     keys: Sequence[str] = ('pose6d', 'betas', 'cam'),
                     flat_hand_mean: Optional[bool] = None,
                     is_standin: Optional[bool] = None) -> Dict[str, np.ndarray]:
    """Read and check mean MANO parameters.

    Args:
        source (str or os.PathLike or Mapping): the .npz of
            ``tools/misc/compute_mean_mano_params.py`` (or a mapping with its arrays).
        num_betas (int): the hand model's number of shape parameters.
        keys (Sequence[str]): the arrays needed (of ``pose6d``, ``betas``, ``cam``).
        flat_hand_mean (bool, optional): the reader's hand model convention; a file recorded
            with the other one gets a warning.
        is_standin (bool, optional): whether the reader's hand model is the stand-in; a file
            recorded with the other model gets a warning.

    Returns:
        Dict[str, np.ndarray]: float64 arrays of ``keys``: ``pose6d`` (16, 6), ``betas``
        (num_betas,), ``cam`` (3,).

    Raises:
        MeanParamsNotFoundError: the file does not exist.
        MeanParamsError: not an .npz, a key missing, a shape not exactly the documented one
            (no reshaping), non-finite values, ``pose6d`` rows that are not rotations, or a
            camera scale ``cam[0]`` that is not positive.
    """
    if isinstance(source, Mapping):
        path, arrays = 'mean_params', {k: np.asarray(v) for k, v in source.items()}
    else:
        path = os.fspath(source)
        arrays = _read_npz(path)
    layout = expected_layout(num_betas)
    out = {}
    for key in keys:
        shape = layout[key]
        if key not in arrays:
            raise MeanParamsError(f'{path}: no key {key!r} (keys: {sorted(arrays)}); '
                                  f'{_layout_text(num_betas)}')
        arr = arrays[key]
        if arr.dtype.kind not in 'fiu' or arr.shape != shape:
            raise MeanParamsError(f'{path}: key {key!r} is {arr.dtype} {arr.shape}; '
                                  f'{_layout_text(num_betas)} (arrays are not reshaped: '
                                  'recompute the file with the tool)')
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise MeanParamsError(f'{path}: key {key!r} has non-finite values')
        out[key] = arr
    if 'pose6d' in out:
        _check_rot6d(out['pose6d'], path)
    if 'cam' in out and out['cam'][0] <= 0:
        raise MeanParamsError(f"{path}: key 'cam' scale s = {out['cam'][0]:g} must be > 0 "
                              '(the weak-perspective camera (s, tx, ty) of a hand in front '
                              'of the camera)')
    _warn_metadata(arrays, path, flat_hand_mean, is_standin)
    return out
