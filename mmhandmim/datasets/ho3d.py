"""HO3D v2 / v3 for 3D hand mesh estimation.

Layout (as published)::

    ROOT/train.txt, ROOT/evaluation.txt          lines '<SEQ>/<frame>'
    ROOT/{train,evaluation}/<SEQ>/rgb/<frame>.png   (v3: .jpg), 640x480
    ROOT/{train,evaluation}/<SEQ>/meta/<frame>.pkl
    [ROOT/evaluation_xyz.json, ROOT/evaluation_verts.json]   released evaluation ground truth

HO3D's camera frame is OpenGL (hand at negative z). It is converted to OpenCV once, here
(``to_opencv``); the metric converts predictions back when writing a submission. Joints are
re-ordered from HO3D's order to FreiHAND's, like every mesh dataset here.
"""
import json
import os.path as osp
import pickle

import numpy as np
from mmpose.registry import DATASETS

from ..hand_model.keypoints import convert_keypoints
from ..utils.cache import cached_arrays
from .errors import layout_error
from .mesh_base import HandMeshBaseDataset
from ..structures import GL_TO_CV, rotate_posed_hand

EXPECTED_TREE = ('train.txt, evaluation.txt, {train,evaluation}/<SEQ>/rgb/<frame>.png|jpg, '
                 '{train,evaluation}/<SEQ>/meta/<frame>.pkl')
IMAGE_EXT = {'v2': '.png', 'v3': '.jpg'}


def load_meta_pickle(path):
    """A HO3D meta pickle (Python 2 pickles need latin1)."""
    try:
        with open(path, 'rb') as f:
            try:
                return pickle.load(f)
            except UnicodeDecodeError:
                f.seek(0)
                return pickle.load(f, encoding='latin1')
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - any unreadable pickle is the same user problem
        raise ValueError(f'{path}: cannot read HO3D meta pickle ({type(exc).__name__}: '
                         f'{exc}); the file is damaged: download it again') from None


def _field(meta, key, shape, path):
    if key not in meta or meta[key] is None:
        raise ValueError(f'{path}: HO3D meta has no {key!r} (keys: {sorted(meta)})')
    value = np.asarray(meta[key], np.float64)
    if value.size != int(np.prod(shape)):
        raise ValueError(f'{path}: {key!r} has shape {value.shape}, expected {shape}')
    return value.reshape(shape)


def to_opencv(joints=None, pose=None, trans=None, root=None):
    """OpenGL-frame HO3D annotations -> OpenCV frame (see camera_geometry for the MANO part)."""
    out = rotate_posed_hand(GL_TO_CV, root if root is not None else np.zeros(3),
                            joints=joints, mano_pose=pose,
                            mano_trans=trans if pose is not None else None)
    return out


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

    def _parse_all(self, names):
        """Read every meta pickle once and stack the fields (OpenCV frame, FreiHAND order)."""
        missing = [self._path(n, 'meta') for n in names[:1] + names[-1:]
                   if not osp.isfile(self._path(n, 'meta'))]
        if missing:
            raise layout_error('HO3D', self.data_root, [f'missing meta file {missing[0]}'],
                               EXPECTED_TREE)
        metas = [(p, load_meta_pickle(p)) for p in (self._path(n, 'meta') for n in names)]
        K = np.stack([_field(m, 'camMat', (3, 3), p) for p, m in metas])
        if self.split == 'train':
            joints_gl = np.stack([_field(m, 'handJoints3D', (21, 3), p) for p, m in metas])
            pose = np.stack([_field(m, 'handPose', (48, ), p) for p, m in metas])
            betas = np.stack([_field(m, 'handBeta', (10, ), p) for p, m in metas])
            trans = np.stack([_field(m, 'handTrans', (3, ), p) for p, m in metas])
            root_gl = joints_gl[:, 0]
            cv = [to_opencv(joints=j, pose=po, trans=t, root=r)
                  for j, po, t, r in zip(joints_gl, pose, trans, root_gl)]
            return dict(
                K=K, betas=betas,
                joints=convert_keypoints(np.stack([c['joints'] for c in cv]), 'ho3d',
                                         'freihand'),
                pose=np.stack([c['mano_pose'] for c in cv]),
                trans=np.stack([c['mano_trans'] for c in cv]))
        bbox = np.stack([_field(m, 'handBoundingBox', (4, ), p) for p, m in metas])
        root = np.stack([_field(m, 'handJoints3D', (3, ), p) for p, m in metas]) @ GL_TO_CV
        return dict(K=K, bbox=bbox, root=root)

    def _load_gt_json(self, n):
        """The released evaluation ground truth, if present: (xyz, verts) in OpenCV frame."""
        files = [osp.join(self.data_root, f'evaluation_{k}.json') for k in ('xyz', 'verts')]
        if not all(osp.isfile(f) for f in files):
            return {}

        def load(path):
            with open(path) as f:
                arr = np.asarray(json.load(f), np.float64)
            if len(arr) != n:
                raise layout_error('HO3D', self.data_root, [
                    f'{path} has {len(arr)} entries, evaluation.txt has {n}'], EXPECTED_TREE)
            return arr @ GL_TO_CV

        return dict(gt_xyz=convert_keypoints(load(files[0]), 'ho3d', 'freihand'),
                    gt_verts=load(files[1]))

    def _load_arrays(self, names=None):
        sources = [self.list_file]
        gt_files = [osp.join(self.data_root, f'evaluation_{k}.json') for k in ('xyz', 'verts')]
        if self.split == 'evaluation':
            sources += [f for f in gt_files if osp.isfile(f)]

        def build():
            n = names or self._names()
            arrays = self._parse_all(n)
            if self.split == 'evaluation':
                arrays.update(self._load_gt_json(len(n)))
            return {k: np.asarray(v, np.float64) for k, v in arrays.items()}

        return cached_arrays(f'ho3d-{self.version}-{self.split}', sources, build, self.cache_dir)

    def load_data_list(self):
        names = self._names()
        arrays = self._load_arrays(names)
        first_img = self._path(names[0], 'rgb') if names else None
        if not names or not osp.isfile(first_img):
            raise layout_error('HO3D', self.data_root, [
                f'{self.list_file} is empty' if not names else
                f'missing image {first_img} (version={self.version!r} expects '
                f'{IMAGE_EXT[self.version]} images)'], EXPECTED_TREE)
        if len(arrays['K']) != len(names):
            raise layout_error('HO3D', self.data_root, [
                f'{len(arrays["K"])} cached entries for {len(names)} list lines'], EXPECTED_TREE)
        return [dict(img_path=self._path(n, 'rgb'), seq_frame=n, list_idx=i, img_id=i, id=i)
                for i, n in enumerate(names)]

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
