"""HO3D v2 / v3 for 3D hand mesh estimation.

Layout (as published)::

    ROOT/train.txt, ROOT/evaluation.txt          lines '<SEQ>/<frame>'
    ROOT/{train,evaluation}/<SEQ>/rgb/<frame>.png   (v3: .jpg), 640x480
    ROOT/{train,evaluation}/<SEQ>/meta/<frame>.pkl
    [ROOT/evaluation_xyz.json, ROOT/evaluation_verts.json]   released evaluation ground truth

HO3D's camera frame is OpenGL (hand at negative z). It is converted to OpenCV once, here
(``to_opencv``); the metric converts predictions back when writing a submission. Joints are
re-ordered from HO3D's order to FreiHAND's, like every mesh dataset here. ``handPose`` keeps
HO3D's MANO convention (``flat_hand_mean=True``, as the toolkit's ``forwardKinematics``): the
HO3D configs set ``head.mano.flat_hand_mean=True``.

Real quirks handled at load time (one pass over the meta files, then cached):

* train frames whose hand fields are None (HO3D has such frames outside its official lists;
  custom lists meet them) or absent are skipped, counted and reported in one warning; the
  cache keeps one row per list line and ``kept``, so ``list_idx`` stays the list line;
* evaluation frames are never skipped (the submission needs one entry per list line, in
  order): such a frame is refused, naming its meta pickle;
* missing meta files are refused with the first one named and their number;
* wrong shapes, non-numbers, NaN/inf, non-pinhole cameras (zero focal) and hands behind the
  camera are refused (:class:`AnnotationError`) with the frame's meta pickle and sample.
"""
import json
import logging
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log
from mmpose.registry import DATASETS

from ..hand_model.keypoints import convert_keypoints
from ..utils.cache import cached_arrays
from ..utils.safe_pickle import UnsafePickleError, load_array_pickle
from .annotation_checks import (MAX_HAND_EXTENT_M, AnnotationError, as_numeric_array,
                                check_array, check_hand_extent, check_in_front,
                                check_intrinsics, hand_extents)
from .errors import layout_error
from .mesh_base import HandMeshBaseDataset
from ..structures import GL_TO_CV, rotate_global_orient

EXPECTED_TREE = ('train.txt, evaluation.txt, {train,evaluation}/<SEQ>/rgb/<frame>.png|jpg, '
                 '{train,evaluation}/<SEQ>/meta/<frame>.pkl')
IMAGE_EXT = {'v2': '.png', 'v3': '.jpg'}
#: the meta fields each split needs, with their shapes (HO3D toolkit; evaluation meta files
#: hold only the root joint as ``handJoints3D``)
FIELDS = {
    'train': (('camMat', (3, 3)), ('handJoints3D', (21, 3)), ('handPose', (48, )),
              ('handBeta', (10, )), ('handTrans', (3, ))),
    'evaluation': (('camMat', (3, 3)), ('handBoundingBox', (4, )), ('handJoints3D', (3, ))),
}
#: bump when the cached arrays change meaning or their checks (2: one row per list line plus
#: ``kept``; 3: built with the units check, and keyed by the meta folders too)
CACHE_REVISION = 3


def load_meta_pickle(path: str) -> dict:
    """A HO3D meta pickle (Python 2 pickles need latin1).

    Raises:
        FileNotFoundError: the file does not exist.
        AnnotationError: it cannot be unpickled or does not hold a dict.
    """
    try:  # numpy arrays and plain values only: a meta file must not run code
        meta = load_array_pickle(path, 'a HO3D meta file')
    except (FileNotFoundError, UnsafePickleError):
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable pickle is the same user problem
        raise AnnotationError(f'{path}: cannot read HO3D meta pickle ({type(exc).__name__}: '
                              f'{exc}); the file is damaged: download it again') from None
    if not isinstance(meta, dict):
        raise AnnotationError(f'{path}: a HO3D meta pickle holds a dict, got '
                              f'{type(meta).__name__}; the file is damaged: download it again')
    return meta


def absent_field(meta: dict, fields: Sequence[Tuple[str, tuple]]) -> Optional[str]:
    """Why a frame has no usable annotation ("'handPose' is None" / "'handPose' missing"),
    or None when every field has a value. Real HO3D has frames whose hand fields are None
    (frames outside the official lists)."""
    for key, _ in fields:
        if key not in meta:
            return f'{key!r} missing'
        if meta[key] is None:
            return f'{key!r} is None'
    return None


def _field(meta, key, shape, path, sample):
    value = as_numeric_array(meta[key], path, f'{key!r} of {sample}')
    if value.size != int(np.prod(shape)):
        raise AnnotationError(
            f'{path}: {key!r} of {sample} has shape {value.shape}, expected {shape} (HO3D '
            'meta format); the file is damaged or not an HO3D meta pickle: download it again')
    return value.reshape(shape)


def stack_field(metas: Sequence[dict], key: str, shape: Tuple[int, ...], paths: Sequence[str],
                samples: Sequence[str]) -> np.ndarray:
    """(N, *shape) float64 values of ``key`` in ``metas``: one conversion for the whole split;
    only when that fails, frame by frame, to name the first bad file and sample."""
    try:
        return np.asarray([m[key] for m in metas], np.float64).reshape((len(metas), ) + shape)
    except (TypeError, ValueError):
        pass
    return np.stack([_field(m, key, shape, p, s) for m, p, s in zip(metas, paths, samples)])


def _first(bad: np.ndarray) -> int:
    return int(np.argmax(bad)) if bad.any() else 0


def _not_finite(arr):
    return ~np.isfinite(arr.reshape(len(arr), -1)).all(1)


def refuse_broken(arrays: Dict[str, np.ndarray], shapes: Dict[str, tuple],
                  paths: Sequence[str], names: Sequence[str]) -> None:
    """One :class:`AnnotationError` for the first sample whose stacked (OpenGL-frame) meta
    values are non-finite, whose camera is no pinhole camera or whose hand is behind the
    camera, naming that sample's meta pickle. Vectorised: milliseconds for 60k frames."""
    for key, shape in shapes.items():
        arr = arrays[key]
        check_array(arr, paths[_first(_not_finite(arr))], repr(key), shape, names)
    K = arrays['camMat']
    bad_K = (K[:, 0, 0] <= 0) | (K[:, 1, 1] <= 0) | (np.abs(K[:, 2] - (0, 0, 1)).max(1) > 1e-6)
    check_intrinsics(K, paths[_first(bad_K)], names)
    pts = (arrays['handJoints3D'] @ GL_TO_CV).reshape(len(K), -1, 3)  # OpenCV: in front z > 0
    check_in_front(pts, paths[_first((pts[..., 2] <= 0).any(-1))],
                   "'handJoints3D' (OpenGL frame: hand at negative z)", names)
    check_hand_extent(pts, paths[_first(hand_extents(pts) > MAX_HAND_EXTENT_M)],
                      "'handJoints3D'", names)


def to_opencv(joints: np.ndarray, pose: np.ndarray, trans: np.ndarray) -> Dict[str, np.ndarray]:
    """OpenGL-frame HO3D train labels -> OpenCV frame, batched: (N, 21, 3) joints (their first
    is the posed MANO root), (N, 48) pose, (N, 3) trans. The hand turns about the camera
    origin (``rotate_posed_hand``, vectorised): MANO rotates about the posed root joint, so
    ``trans' = F root - root + trans``."""
    root = joints[:, 0]
    pose = np.array(pose, np.float64, copy=True)
    pose[:, :3] = rotate_global_orient(pose[:, :3], GL_TO_CV)
    return dict(joints=joints @ GL_TO_CV.T, mano_pose=pose,
                mano_trans=root @ GL_TO_CV.T - root + trans)


def skip_summary(reasons: Sequence[str]) -> str:
    """'2 with 'handJoints3D' is None, 1 with 'handPose' missing'."""
    kinds, counts = np.unique(np.asarray(reasons, str), return_counts=True)
    order = np.argsort(-counts, kind='stable')
    return ', '.join(f'{counts[i]} with {kinds[i]}' for i in order)


@DATASETS.register_module()
class HO3DMeshDataset(HandMeshBaseDataset):
    """HO3D train or evaluation split (v2 or v3).

    Args:
        data_root: the HO3D folder.
        split: 'train' or 'evaluation'. The evaluation split has no 3D ground truth in its
            meta files (only the hand box and the root joint); if ``evaluation_xyz.json`` and
            ``evaluation_verts.json`` are in the root they are loaded as ground truth.
        version: 'v2' (png images) or 'v3' (jpg images).
        cache_dir: where the parsed meta arrays go (default ``$MMHANDMIM_CACHE/arrays``).
    """

    def __init__(self, data_root, split='train', version='v2', cache_dir=None, **kwargs):
        if split not in ('train', 'evaluation'):
            raise ValueError(f"split must be 'train' or 'evaluation', got {split!r}")
        if version not in IMAGE_EXT:
            raise ValueError(f"version must be 'v2' or 'v3', got {version!r}")
        self.split, self.version, self.cache_dir = split, version, cache_dir
        self._arrays = None
        if not osp.isdir(data_root):
            raise layout_error('HO3D', data_root, ['the folder does not exist'], EXPECTED_TREE)
        self.list_file = osp.join(data_root, f'{split}.txt')
        if not osp.isfile(self.list_file):
            raise layout_error('HO3D', data_root, [f'missing file {self.list_file}'],
                               EXPECTED_TREE)
        super().__init__(data_root=data_root, **kwargs)

    def _names(self):
        with open(self.list_file) as f:
            names = [ln.strip() for ln in f if ln.strip()]
        bad = [n for n in names if n.count('/') != 1]
        if bad:
            raise layout_error('HO3D', self.data_root, [
                f'{self.list_file}: lines must be <SEQ>/<frame>, got {bad[0]!r}'], EXPECTED_TREE)
        return names

    def _path(self, name, kind):
        seq, frame = name.split('/')
        ext = IMAGE_EXT[self.version] if kind == 'rgb' else '.pkl'
        return osp.join(self.data_root, self.split, seq, kind, frame + ext)

    def _read_metas(self, names: List[str]) -> Tuple[List[str], List[dict]]:
        """Every listed meta pickle, in one pass (a missing file is noticed by opening it, so
        60k files are not stat-ed twice); all missing files are counted, the first named."""
        paths = [self._path(n, 'meta') for n in names]
        metas, missing = [], []
        for p in paths:
            try:
                metas.append(load_meta_pickle(p))
            except FileNotFoundError:
                missing.append(p)
        if missing:
            raise layout_error('HO3D', self.data_root, [
                f'missing meta file {missing[0]} ({len(missing)} of the {len(names)} meta '
                f'files {self.list_file} lists are missing)'], EXPECTED_TREE)
        return paths, metas

    def _kept_frames(self, names, paths, metas) -> Tuple[np.ndarray, List[str]]:
        """Which list lines have every field the split needs. Train: frames without (None or
        missing fields) are skipped; evaluation: refused, since the submission needs one
        entry per evaluation.txt line, in order, so no frame may be dropped."""
        reasons = [absent_field(m, FIELDS[self.split]) for m in metas]
        kept = np.array([r is None for r in reasons], bool)
        if self.split == 'evaluation' and not kept.all():
            i = _first(~kept)
            raise AnnotationError(
                f'{paths[i]}: {reasons[i]} (evaluation sample {i}, {names[i]}); an evaluation '
                'frame cannot be skipped (the submission has one entry per line of '
                f'{self.list_file}, in order): use the official evaluation.txt')
        if not kept.any():
            raise AnnotationError(
                f'{self.list_file}: none of its {len(names)} frames has a hand annotation '
                f'({skip_summary(reasons)}; first: {paths[0]}); HO3D\'s official train.txt '
                'lists only annotated frames: use it, or a list of annotated frames')
        return kept, [r for r in reasons if r is not None]

    def _parse_all(self, names):
        """Read every meta pickle once and stack the fields (OpenCV frame, FreiHAND order).

        The arrays have one row per list line (rows of skipped frames are zeros), ``kept``
        says which lines were kept and ``skipped`` why the others were not.
        """
        paths, metas = self._read_metas(names)
        kept, skipped = self._kept_frames(names, paths, metas)
        idx = np.flatnonzero(kept)
        shapes = dict(FIELDS[self.split])
        sub_paths, sub_names = [paths[i] for i in idx], [names[i] for i in idx]
        sub_metas = [metas[i] for i in idx]
        samples = [f'sample {k} ({n})' for k, n in enumerate(sub_names)]
        gl = {key: stack_field(sub_metas, key, shape, sub_paths, samples)
              for key, shape in shapes.items()}
        refuse_broken(gl, shapes, sub_paths, sub_names)
        out = dict(K=gl['camMat'])
        if self.split == 'train':
            cv = to_opencv(gl['handJoints3D'], gl['handPose'], gl['handTrans'])
            out.update(betas=gl['handBeta'], pose=cv['mano_pose'], trans=cv['mano_trans'],
                       joints=convert_keypoints(cv['joints'], 'ho3d', 'freihand'))
        else:
            out.update(bbox=gl['handBoundingBox'], root=gl['handJoints3D'] @ GL_TO_CV)
        full = {k: np.zeros((len(names), ) + v.shape[1:]) for k, v in out.items()}
        for k, v in out.items():
            full[k][idx] = v
        full.update(kept=kept, skipped=np.asarray(skipped, str))
        return full

    def _load_gt_json(self, names):
        """The released evaluation ground truth, if present: (xyz, verts) in OpenCV frame."""
        n = len(names)
        files = [osp.join(self.data_root, f'evaluation_{k}.json') for k in ('xyz', 'verts')]
        if not all(osp.isfile(f) for f in files):
            return {}

        def load(path):
            with open(path) as f:
                arr = np.asarray(json.load(f), np.float64)
            if len(arr) != n:
                raise layout_error('HO3D', self.data_root, [
                    f'{path} has {len(arr)} entries, evaluation.txt has {n}'], EXPECTED_TREE)
            return arr

        xyz, verts = (load(f) for f in files)
        check_array(xyz, files[0], 'joints', (21, 3), names)
        check_array(verts, files[1], 'vertices', (778, 3), names)
        check_hand_extent(xyz, files[0], 'joints', names)
        check_hand_extent(verts, files[1], 'vertices', names)
        return dict(gt_xyz=convert_keypoints(xyz @ GL_TO_CV, 'ho3d', 'freihand'),
                    gt_verts=verts @ GL_TO_CV)

    def _load_arrays(self, names=None):
        # keyed by the list and the sequences' meta folders (a re-extracted or replaced meta
        # file changes its folder's mtime), not by 60k meta files: an in-place edit of one
        # needs the cache entry deleted ($MMHANDMIM_CACHE/arrays/ho3d-*)
        seqs = sorted({n.split('/')[0] for n in (names or self._names())})
        sources = [self.list_file] + [d for d in (osp.join(self.data_root, self.split, s, 'meta')
                                                  for s in seqs) if osp.isdir(d)]
        gt_files = [osp.join(self.data_root, f'evaluation_{k}.json') for k in ('xyz', 'verts')]
        if self.split == 'evaluation':
            sources += [f for f in gt_files if osp.isfile(f)]

        def build():
            n = names or self._names()
            arrays = self._parse_all(n)
            if self.split == 'evaluation':
                arrays.update(self._load_gt_json(n))
            return {k: v if k in ('kept', 'skipped') else np.asarray(v, np.float64)
                    for k, v in arrays.items()}

        return cached_arrays(f'ho3d-r{CACHE_REVISION}-{self.version}-{self.split}', sources,
                             build, self.cache_dir)

    def load_data_list(self):
        names = self._names()
        if not names:
            raise layout_error('HO3D', self.data_root, [f'{self.list_file} is empty'],
                               EXPECTED_TREE)
        arrays = self._load_arrays(names)
        if len(arrays['K']) != len(names) or len(arrays['kept']) != len(names):
            raise layout_error('HO3D', self.data_root, [
                f'{len(arrays["K"])} cached entries for {len(names)} list lines'], EXPECTED_TREE)
        idx = np.flatnonzero(arrays['kept'])
        first_img = self._path(names[idx[0]], 'rgb')
        if not osp.isfile(first_img):
            raise layout_error('HO3D', self.data_root, [
                f'missing image {first_img} (version={self.version!r} expects '
                f'{IMAGE_EXT[self.version]} images)'], EXPECTED_TREE)
        self._report_skipped(names, arrays)
        # list_idx: the list line, also the row of the cached arrays
        return [dict(img_path=self._path(names[i], 'rgb'), seq_frame=names[i], list_idx=int(i),
                     img_id=int(i), id=int(i)) for i in idx]

    def _report_skipped(self, names, arrays):
        """One warning line for the frames skipped for lack of hand annotation (every load,
        from the cache too)."""
        skipped = [str(r) for r in arrays['skipped']]
        if not skipped:
            return
        first = names[_first(~np.asarray(arrays['kept']))]
        print_log(f'HO3D {self.split}: skipped {len(skipped)} of the {len(names)} frames '
                  f'{self.list_file} lists, without hand annotation ({skip_summary(skipped)}); '
                  f"first: {self._path(first, 'meta')}. HO3D's official lists hold only "
                  'annotated frames', logger='current', level=logging.WARNING)

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        if self._arrays is None:  # opened lazily: memory maps must not cross a fork
            self._arrays = self._load_arrays()
        a, i = self._arrays, info['list_idx']
        if self.split == 'train':
            sample = self.make_sample(
                info['img_path'], a['K'][i], joints=a['joints'][i],
                mano=dict(pose=a['pose'][i], betas=a['betas'][i], trans=a['trans'][i]))
        else:
            gt = 'gt_xyz' in a
            sample = self.make_sample(
                info['img_path'], a['K'][i], joints=a['gt_xyz'][i] if gt else None,
                vertices=a['gt_verts'][i] if gt else None, bbox=a['bbox'][i])
            sample['root_joint'] = np.asarray(a['root'][i], np.float32).reshape(1, 3)
        info.update(sample)
        return info
