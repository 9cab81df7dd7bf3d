"""FreiHAND v2 ("FreiHAND_pub_v2") for 3D hand mesh estimation.

Layout (as published)::

    ROOT/training/rgb/%08d.jpg        4 x N images; image k shows frame k % N
    ROOT/training_{K,mano,xyz,verts,scale}.json
    ROOT/evaluation/rgb/%08d.jpg      M images
    ROOT/evaluation_{K,scale}.json    (+ evaluation_{xyz,verts[,mano]}.json: public ground truth)

Per frame: K 3x3 (pixels), xyz 21x3 and verts 778x3 (metres, OpenCV camera frame), scale (a
float) and mano ``[[61 values]]`` (``[61 values]`` is accepted too): pose 48 (axis-angle,
``flat_hand_mean=False``), shape 10, then ``uv_root`` 2 and ``scale`` 1, with which the
official toolbox (``utils/model.py``: ``split_theta``, ``recover_root``, ``pose_by_root``)
places the hand: keypoint 9 back-projected from pixel ``uv_root`` to depth ``focal / scale``.
Values 58-61 are not a MANO translation and this loader does not read them; the translation is
derived from the stored joints instead (``mano_model_path``).

The JSON files are parsed once per machine (``json_arrays.parse_array_list``: no Python float
per number, no file-sized temporaries), checked, and cached as memory-mapped arrays
(``mmhandmim.utils.cache``; the other ranks and workers wait for the one that parses).
"""
import json
import logging
import mmap
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.logging import print_log
from mmpose.registry import DATASETS

from ..hand_model.mano_io import rest_root_coefficients
from ..utils.json_arrays import parse_array_list
from ..utils.cache import cached_arrays
from ..utils.errors import ConfigError
from .annotation_checks import (AnnotationError, check_array, check_hand_extent, check_in_front,
                                check_intrinsics)
from .errors import DatasetLayoutError, layout_error
from .mesh_base import NUM_KEYPOINTS, NUM_VERTICES, HandMeshBaseDataset
from .unlabeled_hands import ImageLoadError

#: FreiHAND's four renderings of each training frame, in file order
IMAGE_VERSIONS = ('gs', 'hom', 'sample', 'auto')
EXPECTED_TREE = ('training/rgb/%08d.jpg, training_{K,mano,xyz,verts,scale}.json, '
                 'evaluation/rgb/%08d.jpg, evaluation_{K,scale}.json '
                 '[, evaluation_{xyz,verts[,mano]}.json]')
#: bump when the cached arrays change meaning (entries of older code are then not reused)
CACHE_FORMAT = 2
#: per file: the shape of one entry, and the other spellings of it that are accepted
ENTRY_SHAPES = {
    'K': ((3, 3), ()),
    'scale': ((), ((1, ), )),
    'xyz': ((NUM_KEYPOINTS, 3), ()),
    'verts': ((NUM_VERTICES, 3), ()),
    'mano': ((61, ), ((1, 61), )),
}
ENTRY_WHAT = {'K': 'camera matrix K', 'scale': 'scale', 'xyz': '3D joints',
              'verts': 'vertices', 'mano': 'MANO parameters'}


class AnnotationCountError(AnnotationError, DatasetLayoutError):
    """Annotation files of one split with different numbers of entries (a ``ValueError`` and,
    as it was before these checks existed, a ``FileNotFoundError``)."""


def _load_json_array(path: str):
    """A JSON file's content: a float64 array when it is one rectangular nested list of
    numbers (the fast path, ``parse_array_list``), else what ``json`` makes of it, for
    :func:`_entries` to say exactly what is wrong."""
    with open(path, 'rb') as f:
        if os.fstat(f.fileno()).st_size:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as raw:
                arr = parse_array_list(raw, top_level_list=False)
            if arr is not None:
                return arr
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = (f' ({exc.msg} at line {exc.lineno}, column {exc.colno})'
                 if isinstance(exc, json.JSONDecodeError) else '')
        raise AnnotationError(f'{path}: not valid JSON{where}; the file is probably truncated: '
                              'download it again') from None


def _bad_entry(path, what, i, got, shape, all_bad=False):
    want = ('one number' if not shape else f'a list of {shape[0]} numbers' if len(shape) == 1
            else f'a {"x".join(map(str, shape))} list of numbers')
    return AnnotationError(
        f'{path}: the {what} entry of sample {i} is {got}, expected {want} per frame'
        + (' (every entry is)' if all_bad else '') + '; the file is damaged or not '
        "FreiHAND_pub_v2's: download it again")


def _entries(value, path: str, name: str) -> np.ndarray:
    """The (N, *shape) float64 array of a file's per-frame entries (``name``: 'K', 'xyz',
    ...), or an :class:`AnnotationError` naming the file and the first bad sample."""
    (shape, also), what = ENTRY_SHAPES[name], ENTRY_WHAT[name]
    if isinstance(value, np.ndarray):  # rectangular: all entries have one shape
        if value.shape[1:] in also:
            value = value.reshape(len(value), *shape)
        if len(value) and value.shape[1:] != shape:
            raise _bad_entry(path, what, 0, f'of shape {value.shape[1:]}', shape, True)
        arr = value
    elif isinstance(value, list):  # ragged or with non-numbers: find the first bad entry
        rows = []
        for i, entry in enumerate(value):
            try:
                e = np.asarray(entry, np.float64)
            except (TypeError, ValueError):
                raise _bad_entry(path, what, i, f'{json.dumps(entry)[:60]!s}', shape) from None
            if e.shape != shape and e.shape not in also:
                raise _bad_entry(path, what, i, f'of shape {e.shape}', shape)
            rows.append(e.reshape(shape))
        arr = np.stack(rows) if rows else np.zeros((0, *shape))
    else:
        raise AnnotationError(f'{path}: holds a JSON {type(value).__name__}, expected a list '
                              f'with one {what} entry per frame; download the file again')
    if not len(arr):
        raise AnnotationError(f'{path}: holds no entries; download the file again')
    check_array(arr, path, what, shape)  # NaN / inf, with the first such sample
    return arr


def _check_values(arrays: Dict[str, np.ndarray], paths: Dict[str, str]) -> None:
    """Counts agree; positive focal lengths and scales; joints in front of the camera."""
    n = len(arrays['K'])
    for name, arr in arrays.items():
        if len(arr) != n:
            raise AnnotationCountError(
                f'{paths[name]}: {name} has {len(arr)} entries, K has {n} ({paths["K"]}); '
                f'from sample {min(n, len(arr))} on only one of them has entries: the files '
                'come from different downloads or one is cut short, download them again')
    check_intrinsics(arrays['K'], paths['K'])
    bad = arrays['scale'] <= 0
    if bad.any():
        i = int(np.argmax(bad))
        raise AnnotationError(
            f'{paths["scale"]}: the scale of sample {i} is {arrays["scale"][i]} (a bone length '
            f'in metres must be > 0; {int(bad.sum())} such samples); download the file again')
    if 'xyz' in arrays:
        check_in_front(arrays['xyz'], paths['xyz'], '3D joints')
        check_hand_extent(arrays['xyz'], paths['xyz'], '3D joints')
    if 'verts' in arrays:
        check_hand_extent(arrays['verts'], paths['verts'], 'vertices')


def _image_shape(path: str) -> Tuple[int, int]:
    """(width, height) of one image (decoding one small JPEG costs about a millisecond)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ImageLoadError(path, 'it does not exist or is not a decodable image (the first '
                             'image is read to check the image size)')
    return int(img.shape[1]), int(img.shape[0])


@DATASETS.register_module()
class FreiHANDMeshDataset(HandMeshBaseDataset):
    """FreiHAND v2 training or evaluation split.

    MANO translation: the files store none (values 58-61 are ``uv_root`` and ``scale``), so
    ``mano_trans`` is derived from the stored wrist joint, ``xyz[0] - J_root(betas)``, with
    the hand model that ``mano_model_path`` names; it is exact for that model whatever the
    last three values hold. Without ``mano_model_path`` it is NaN: FreiHAND stores the vertices,
    so nothing in training needs it (``PyMAFMANOHead`` re-poses MANO only for samples without
    vertices; ``MeshTopdownAffine`` just carries it along), and NaN cannot pass for a real
    translation the way a guessed one could.

    Args:
        data_root: the FreiHAND_pub_v2 folder.
        split: 'training' or 'evaluation'.
        image_versions: which of the training renderings to use ('gs', 'hom', 'sample',
            'auto'); each adds N samples. Ignored for 'evaluation'.
        bbox_source: 'image' (the whole image; FreiHAND images are hand-centred, and it is
            what is available at test time) or 'keypoints' (tight box of the projected
            ground-truth joints, training only).
        image_size: side of the square images; None (default) reads it from the first image.
            A value is checked against that image (a wrong one would pad or cut every crop).
        mano_model_path: the hand model that ``mano_trans`` is derived for (the config's MANO
            ``model_path``: a folder with MANO_RIGHT.pkl, or 'standin'); None: NaN (above).
        cache_dir: where the parsed arrays go (default ``$MMHANDMIM_CACHE/arrays``).
    """

    def __init__(self, data_root: str, split: str = 'training',
                 image_versions: Sequence[str] = IMAGE_VERSIONS, bbox_source: str = 'image',
                 image_size: Optional[int] = None, mano_model_path: Optional[str] = None,
                 cache_dir: Optional[str] = None, **kwargs):
        if split not in ('training', 'evaluation'):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        unknown = set(image_versions) - set(IMAGE_VERSIONS)
        if unknown:
            raise ValueError(f'unknown FreiHAND image_versions {sorted(unknown)}; choose from '
                             f'{IMAGE_VERSIONS}')
        if bbox_source not in ('image', 'keypoints'):
            raise ValueError(f"bbox_source must be 'image' or 'keypoints', got {bbox_source!r}")
        self.split, self.bbox_source, self.cache_dir = split, bbox_source, cache_dir
        self.image_size = None if image_size is None else int(image_size)
        self.image_versions = tuple(image_versions) if split == 'training' else ('gs', )
        self._arrays, self._image_box = None, None
        self._root_coef = (None if mano_model_path is None
                           else rest_root_coefficients(mano_model_path))
        self._check_layout(data_root)
        super().__init__(data_root=data_root, **kwargs)

    # --- layout ----------------------------------------------------------------------------
    def _json(self, root, name):
        return osp.join(root, f'{self.split}_{name}.json')

    def _check_layout(self, root):
        problems = []
        if not osp.isdir(root):
            raise layout_error('FreiHAND', root, ['the folder does not exist'], EXPECTED_TREE)
        rgb = osp.join(root, self.split, 'rgb')
        if not osp.isdir(rgb):
            problems.append(f'missing folder {rgb}')
        for name in ('K', 'scale') + (('mano', 'xyz', 'verts') if self.split == 'training'
                                      else ()):
            if not osp.isfile(self._json(root, name)):
                problems.append(f'missing file {self._json(root, name)}')
        if problems:
            raise layout_error('FreiHAND', root, problems, EXPECTED_TREE)

    @property
    def has_ground_truth(self) -> bool:
        """3D ground truth = xyz and verts, what the official evaluation reads (mano optional)."""
        return all(osp.isfile(self._json(self.data_root, n)) for n in ('xyz', 'verts'))

    def _annotation_names(self):
        if not self.has_ground_truth:
            partial = [n for n in ('xyz', 'verts') if osp.isfile(self._json(self.data_root, n))]
            if partial:
                print_log(f'FreiHAND {self.split}: {self._json(self.data_root, partial[0])} '
                          'is ignored: 3D ground truth needs both _xyz.json and _verts.json',
                          logger='current', level=logging.WARNING)
            return ['K', 'scale']
        has_mano = osp.isfile(self._json(self.data_root, 'mano'))
        return ['K', 'scale', 'xyz', 'verts'] + (['mano'] if has_mano else [])

    def _load_arrays(self):
        names = self._annotation_names()
        paths = {n: self._json(self.data_root, n) for n in names}

        def build():
            arrays = {n: _entries(_load_json_array(p), p, n) for n, p in paths.items()}
            _check_values(arrays, paths)
            return arrays

        return cached_arrays(f'freihand{CACHE_FORMAT}-{self.split}', list(paths.values()),
                             build, self.cache_dir)

    # --- mmengine BaseDataset -------------------------------------------------------------
    def load_data_list(self):
        arrays = self._load_arrays()
        n = len(arrays['K'])
        rgb = osp.join(self.data_root, self.split, 'rgb')
        n_images = sum(1 for f in os.listdir(rgb) if f.endswith('.jpg'))
        versions = [IMAGE_VERSIONS.index(v) for v in self.image_versions]
        needed = (max(versions) + 1) * n
        if n_images < needed:
            raise layout_error('FreiHAND', self.data_root, [
                f'{rgb} has {n_images} .jpg images, the selected image_versions '
                f'{self.image_versions} need {needed} ({n} frames each)'], EXPECTED_TREE)
        # lightweight entries; the arrays are attached per sample in get_data_info
        data_list = [dict(img_path=osp.join(rgb, f'{v * n + i:08d}.jpg'), frame_idx=i,
                          img_id=v * n + i, id=v * n + i)
                     for v in versions for i in range(n)]
        self._image_box = self._check_image_size(data_list[0]['img_path'])
        return data_list

    def _check_image_size(self, path):
        """The whole-image box, from the first image; refuses an ``image_size`` it contradicts."""
        w, h = _image_shape(path)
        if self.image_size is not None and (w, h) != (self.image_size, self.image_size):
            raise ConfigError(
                f'FreiHANDMeshDataset: image_size={self.image_size}, but {path} is {w}x{h} '
                "pixels (with bbox_source='image' the box is [0, 0, image_size, image_size], "
                f'so every crop would be wrong): set image_size={w} in the dataset config, or '
                'leave it out (it is then read from the images)')
        return [0, 0, w, h]

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        if self._arrays is None:  # opened lazily: memory maps must not cross a fork
            self._arrays = self._load_arrays()
        a, i = self._arrays, info['frame_idx']
        gt = 'xyz' in a
        sample = self.make_sample(
            info['img_path'], a['K'][i], joints=a['xyz'][i] if gt else None,
            vertices=a['verts'][i] if gt else None,
            mano=self._mano(a['mano'][i], a['xyz'][i][0]) if 'mano' in a else None,
            bbox=None if (gt and self.bbox_source == 'keypoints') else self._image_box)
        sample['hand_scale'] = np.asarray(a['scale'][i], np.float32).reshape(1)
        info.update(sample)
        return info

    def mano_theta(self, idx: int) -> Optional[np.ndarray]:
        """The 61 values the mano file stores for sample ``idx`` (None without the file), for
        tools that check which convention values 58-61 follow."""
        if self._arrays is None:
            self._arrays = self._load_arrays()
        frame = self.get_data_info(idx)['frame_idx']
        return np.array(self._arrays['mano'][frame]) if 'mano' in self._arrays else None

    def _mano(self, theta, wrist):
        """Pose and shape from the file; the translation that puts MANO's root joint (the
        wrist, FreiHAND keypoint 0) on the stored one: ``xyz[0] - J_root(betas)``."""
        betas = np.asarray(theta[48:58], np.float64)
        if self._root_coef is None:
            trans = np.full(3, np.nan)
        else:
            a, B = self._root_coef
            trans = np.asarray(wrist, np.float64) - (a + B @ betas)
        return dict(pose=theta[:48], betas=betas, trans=trans)
