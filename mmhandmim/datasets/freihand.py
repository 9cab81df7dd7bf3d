"""FreiHAND v2 ("FreiHAND_pub_v2") for 3D hand mesh estimation.

Layout (as published)::

    ROOT/training/rgb/%08d.jpg        4 x N images; image k shows frame k % N
    ROOT/training_{K,mano,xyz,verts,scale}.json
    ROOT/evaluation/rgb/%08d.jpg      M images
    ROOT/evaluation_{K,scale}.json    (+ evaluation_{xyz,verts,mano}.json: public ground truth)

The large JSON files are parsed once and cached as memory-mapped arrays (``mmhandmim.utils.
cache``), so only the first start pays for parsing.
"""
import json
import os
import os.path as osp

import numpy as np
from mmpose.registry import DATASETS

from ..utils.cache import cached_arrays
from .errors import layout_error
from .mesh_base import HandMeshBaseDataset

#: FreiHAND's four renderings of each training frame, in file order
IMAGE_VERSIONS = ('gs', 'hom', 'sample', 'auto')
EXPECTED_TREE = ('training/rgb/%08d.jpg, training_{K,mano,xyz,verts,scale}.json, '
                 'evaluation/rgb/%08d.jpg, evaluation_{K,scale}.json '
                 '[, evaluation_{xyz,verts,mano}.json]')


def _load_json_array(path):
    try:
        with open(path) as f:
            return np.asarray(json.load(f), np.float64)  # exact: the metric compares in it
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column '
                         f'{exc.colno}); the file is probably truncated: download it again'
                         ) from None


@DATASETS.register_module()
class FreiHANDMeshDataset(HandMeshBaseDataset):
    """FreiHAND v2 training or evaluation split.

    Args:
        data_root: the FreiHAND_pub_v2 folder.
        split: 'training' or 'evaluation'.
        image_versions: which of the training renderings to use ('gs', 'hom', 'sample',
            'auto'); each adds N samples. Ignored for 'evaluation'.
        image_size: side of the square images (224 for FreiHAND), for bbox_source='image'.
        bbox_source: 'image' (the whole 224x224 crop; FreiHAND images are hand-centred, and
            it is what is available at test time) or 'keypoints' (tight box of the projected
            ground-truth joints, training only).
        cache_dir: where the parsed arrays go (default ``$MMHANDMIM_CACHE/arrays``).
    """

    def __init__(self, data_root, split='training', image_versions=IMAGE_VERSIONS,
                 bbox_source='image', image_size=224, cache_dir=None, **kwargs):
        if split not in ('training', 'evaluation'):
            raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
        unknown = set(image_versions) - set(IMAGE_VERSIONS)
        if unknown:
            raise ValueError(f'unknown FreiHAND image_versions {sorted(unknown)}; choose from '
                             f'{IMAGE_VERSIONS}')
        if bbox_source not in ('image', 'keypoints'):
            raise ValueError(f"bbox_source must be 'image' or 'keypoints', got {bbox_source!r}")
        self.split, self.bbox_source, self.cache_dir = split, bbox_source, cache_dir
        self.image_size = int(image_size)
        self.image_versions = tuple(image_versions) if split == 'training' else ('gs', )
        self._arrays = None
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
    def has_ground_truth(self):
        return all(osp.isfile(self._json(self.data_root, n)) for n in ('xyz', 'verts', 'mano'))

    def _load_arrays(self):
        names = ['K', 'scale'] + (['xyz', 'verts', 'mano'] if self.has_ground_truth else [])
        sources = [self._json(self.data_root, n) for n in names]
        return cached_arrays(
            f'freihand-{self.split}', sources,
            lambda: {n: _load_json_array(p) for n, p in zip(names, sources)}, self.cache_dir)

    # --- mmengine BaseDataset -------------------------------------------------------------
    def load_data_list(self):
        arrays = self._load_arrays()
        n = len(arrays['K'])
        rgb = osp.join(self.data_root, self.split, 'rgb')
        n_images = sum(1 for f in os.listdir(rgb) if f.endswith('.jpg'))
        versions = [IMAGE_VERSIONS.index(v) for v in self.image_versions]
        needed = (max(versions) + 1) * n
        problems = [f'{k} has {len(a)} entries, K has {n}' for k, a in arrays.items()
                    if len(a) != n]
        if n_images < needed:
            problems.append(f'{rgb} has {n_images} .jpg images, the selected image_versions '
                            f'{self.image_versions} need {needed} ({n} frames each)')
        if problems:
            raise layout_error('FreiHAND', self.data_root, problems, EXPECTED_TREE)
        # lightweight entries; the arrays are attached per sample in get_data_info
        return [dict(img_path=osp.join(rgb, f'{v * n + i:08d}.jpg'), frame_idx=i,
                     img_id=v * n + i, id=v * n + i)
                for v in versions for i in range(n)]

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        if self._arrays is None:  # opened lazily: memory maps must not cross a fork
            self._arrays = self._load_arrays()
        a, i = self._arrays, info['frame_idx']
        gt = 'xyz' in a
        mano = None
        if gt:
            m = np.asarray(a['mano'][i]).reshape(-1)
            mano = dict(pose=m[:48], betas=m[48:58], trans=m[58:61])
        sample = self.make_sample(
            info['img_path'], a['K'][i], joints=a['xyz'][i] if gt else None,
            vertices=a['verts'][i] if gt else None, mano=mano,
            bbox=None if (gt and self.bbox_source == 'keypoints') else
            [0, 0, self.image_size, self.image_size])
        sample['hand_scale'] = np.asarray(a['scale'][i], np.float32).reshape(1)
        info.update(sample)
        return info
