"""Shared plumbing of the stand-in dataset writers: output folders, per-sample random
generators, streamed JSON arrays and the ``standin_info.json`` record."""
import json
import os
import shutil
from typing import Dict, Iterable, Optional, Sequence

import numpy as np

from ...utils.errors import UserInputError

#: bump when the generated data change for the same seed and arguments
GENERATOR_VERSION = 2  # 2: FreiHAND mano values 58-61 and HO3D poses as the real datasets'
INFO_FILE = 'standin_info.json'
HAND_MODEL_NOTE = 'stand-in hand model (not MANO)'

#: the ``split`` component of every per-sample random generator
SPLIT_IDS = {
    'freihand/training': 0,
    'freihand/evaluation': 1,
    'ho3d/train': 2,
    'ho3d/evaluation': 3,
    'unlabeled': 4,
}
#: decimals kept in JSON files (metres / radians: 1e-8 is far below any tolerance)
JSON_DECIMALS = 8


class OutputExistsError(UserInputError, FileExistsError):
    """The target folder is not empty and may not be overwritten."""


def sample_rng(seed: int, split: str, *index: int) -> np.random.Generator:
    """The random generator of one sample: a function of (seed, split, index...) only, so the
    output does not depend on chunking or on which other samples are generated."""
    return np.random.default_rng([int(seed), SPLIT_IDS[split], *(int(i) for i in index)])


def prepare_output_dir(root: str, owned: Sequence[str], overwrite: bool = False) -> str:
    """Create ``root`` or make it ready for a new run.

    A non-empty ``root`` is refused unless ``overwrite``; even then it is only cleared when it
    holds a ``standin_info.json`` (i.e. a previous stand-in run), and only the entries this
    generator writes (``owned``) are removed, so a folder with real data is never deleted.
    """
    root = os.path.abspath(os.path.expanduser(root))
    if os.path.isdir(root) and os.listdir(root):
        if not overwrite:
            raise OutputExistsError(
                f'output folder {root} is not empty; pass --overwrite to replace a previous '
                'stand-in dataset there, or choose an empty folder')
        if not os.path.isfile(os.path.join(root, INFO_FILE)):
            raise OutputExistsError(
                f'refusing to overwrite {root}: it is not empty and has no {INFO_FILE}, so it '
                'may hold real data; choose an empty folder')
        for name in list(owned) + [INFO_FILE]:
            path = os.path.join(root, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            elif os.path.lexists(path):
                os.remove(path)
    elif os.path.exists(root) and not os.path.isdir(root):
        raise OutputExistsError(f'output path {root} exists and is not a folder')
    os.makedirs(root, exist_ok=True)
    return root


def _json_value(arr, decimals: int):
    return np.round(np.asarray(arr, dtype=np.float64), decimals).tolist()


def round_params(arr, decimals: int = JSON_DECIMALS) -> np.ndarray:
    """float32 values exactly as a reader gets them back from the JSON files."""
    return np.round(np.asarray(arr, dtype=np.float64), decimals).astype(np.float32)


class JsonListWriter:
    """Write a JSON list one entry at a time (the real files hold up to 130k entries)."""

    def __init__(self, path: str, decimals: int = JSON_DECIMALS):
        self.path = path
        self.decimals = decimals
        self.count = 0
        self._f = open(path, 'w')
        self._f.write('[')

    def append(self, entry) -> None:
        if self.count:
            self._f.write(', ')
        value = (_json_value(entry, self.decimals) if isinstance(entry, np.ndarray)
                 or np.isscalar(entry) else entry)
        self._f.write(json.dumps(value))
        self.count += 1

    def extend(self, entries: Iterable) -> None:
        for e in entries:
            self.append(e)

    def close(self) -> None:
        if not self._f.closed:
            self._f.write(']')
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def write_json(path: str, value, decimals: int = JSON_DECIMALS) -> None:
    with JsonListWriter(path, decimals) as w:
        w.extend(value)


def hand_model_info(hands, flat_hand_mean: bool = False) -> Dict:
    """The MANO-parameter convention of the stored data (see the package docstring)."""
    from ..hand import STANDIN_VERSION, source_hash
    return {
        'hand_model': HAND_MODEL_NOTE,
        'model_path': 'standin',
        'standin_version': STANDIN_VERSION,
        'standin_source_hash': source_hash(),
        'num_vertices': int(hands.num_vertices),
        'flat_hand_mean': bool(flat_hand_mean),
        'pose': '48 axis-angle values: global orientation (3) + 15 finger joints (45) in MANO '
                'joint order, ' + ('absolute finger rotations (flat_hand_mean=True: no '
                                   'hands_mean added; real HO3D, whose forwardKinematics '
                                   'loads MANO with flat_hand_mean=True)' if flat_hand_mean else
                                   'finger rotations relative to hands_mean (smplx '
                                   'flat_hand_mean=False)')
                + '; shape: 10 betas; the placement is per dataset (FreiHAND: uv_root 2 + '
                'scale 1 of keypoint 9, as its toolbox; HO3D: handTrans 3, added after posing; '
                'MANO rotates about the rest-pose root joint)',
        'fingertip_ids': list(hands.fingertip_ids),
        'fingertip_convention': 'standin',
        'units': 'metres',
    }


def write_info(root: str, info: Dict) -> str:
    path = os.path.join(root, INFO_FILE)
    base = {'generator': 'mmhandmim.standin.generation',
            'generator_version': GENERATOR_VERSION,
            'note': f'Generated look-alike data from the {HAND_MODEL_NOTE}; numbers obtained '
                    'on it say nothing about MANO-based results.'}
    base.update(info)
    with open(path, 'w') as f:
        json.dump(base, f, indent=2, sort_keys=False)
        f.write('\n')
    return path


def imwrite(path: str, image: np.ndarray, params: Optional[Sequence[int]] = None) -> None:
    import cv2
    if not cv2.imwrite(path, image, list(params or [])):
        raise OSError(f'could not write {path}')


class torch_threads:
    """Run a block with ``n`` torch intra-op threads (restored afterwards).

    The per-image renders are many small tensor ops: on a busy 2-core machine two threads
    made them 10-30x slower than one (thread hand-offs), so the writers use one.
    """

    def __init__(self, n: int = 1):
        self.n = n

    def __enter__(self):
        import torch
        self._old = torch.get_num_threads()
        torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self._old)
