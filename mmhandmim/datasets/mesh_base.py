"""Common base of the hand-mesh datasets: mmpose metainfo, the per-sample dict layout.

Every sample dict carries (mmpose conventions, one instance per image):
``img_path``, ``bbox`` (1,4) xyxy, ``bbox_score`` (1,), ``keypoints`` (1,21,2) pixels,
``keypoints_visible`` (1,21), ``keypoints_3d`` (1,21,3) metres in the OpenCV camera frame,
``vertices`` (1,778,3), ``mano_pose`` (1,48), ``mano_betas`` (1,10), ``mano_trans`` (1,3),
``cam_K`` (1,3,3), ``has_3d``/``has_mano``/``has_verts`` (1,) flags (HO3D training stores
no vertices), ``hand_side`` ('right'), ``sample_idx``.
3D points stay float64 (as parsed) so the metric compares exactly what the official scripts
read; the packed training labels are float32.
Keypoints are in ``keypoint_order`` (FreiHAND's by default, for every dataset, so one model and
one set of metainfo serve all; the metric converts back to the benchmark's order).
"""
import copy
import os.path as osp

import mmcv
import mmpose
import numpy as np
from mmengine import fileio
from mmengine.dataset import BaseDataset
from mmpose.datasets.datasets.utils import parse_pose_metainfo

from ..hand_model.keypoints import convert_keypoints
from ..structures import project
from ..utils.worker_threads import limit_threads_in_worker
from .unlabeled_hands import ImageLoadError

NUM_KEYPOINTS = 21
NUM_VERTICES = 778


class HandMeshBaseDataset(BaseDataset):
    # 21 hand keypoints in FreiHAND order (names, skeleton, sigmas): mmpose's own metainfo
    METAINFO = dict(from_file=osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs',
                                       '_base_', 'datasets', 'freihand2d.py'))

    def __init__(self, *args, keypoint_order='freihand', **kwargs):
        if keypoint_order != 'freihand':
            raise ValueError(f'keypoint_order={keypoint_order!r}: the mesh datasets provide '
                             "keypoints in 'freihand' order (the metric writes each "
                             "benchmark's own order); convert predictions, not data")
        self.keypoint_order = keypoint_order
        super().__init__(*args, **kwargs)

    @classmethod
    def _load_metainfo(cls, metainfo=None):
        if metainfo is None:
            metainfo = dict(cls.METAINFO)
        return parse_pose_metainfo(dict(metainfo))

    #: metainfo that mmpose's transforms and heads read per sample (RandomFlip and flip
    #: testing need ``flip_indices``); copied into each sample as mmpose's own datasets do
    #: (``BaseCocoStyleDataset.get_data_info``), so mmpose's 2D pipelines work unchanged
    SAMPLE_METAINFO_KEYS = ('dataset_name', 'upper_body_ids', 'lower_body_ids', 'flip_pairs',
                            'dataset_keypoint_weights', 'flip_indices', 'skeleton_links')

    def get_data_info(self, idx):
        info = super().get_data_info(idx)
        for key in self.SAMPLE_METAINFO_KEYS:
            info[key] = copy.deepcopy(self._metainfo[key])
        return info

    def prepare_data(self, idx):
        """mmpose's ``LoadImage`` reports a corrupt file as an ``AssertionError`` asking
        whether the file exists; when the pipeline fails and the sample's image is missing or
        undecodable, raise :class:`ImageLoadError` saying which, with path, dataset and index."""
        limit_threads_in_worker()
        try:
            return super().prepare_data(idx)
        except Exception as exc:
            problem = self._image_problem(idx)
            if problem is None:
                raise
            raise ImageLoadError(problem[0], f'{problem[1]} ({type(self).__name__} sample '
                                 f'{idx})') from exc

    def _image_problem(self, idx):
        """(path, what is wrong) when sample ``idx``'s image cannot be read, else None."""
        try:
            path = self.get_data_info(idx).get('img_path')
        except Exception:  # noqa: BLE001 - the annotation is the problem, not the image
            return None
        if not path or not isinstance(path, str):
            return None
        if '://' not in path and not osp.isfile(path):
            return path, 'the file does not exist'
        try:
            img = mmcv.imfrombytes(fileio.get(path), flag='color')
        except Exception as exc:  # noqa: BLE001 - any backend/decoder failure
            return path, f'it cannot be read ({exc})'
        if img is None:
            return path, 'it is not a decodable image (corrupt or truncated file)'
        return None

    # --- building a sample ---------------------------------------------------------------
    @staticmethod
    def make_sample(img_path, K, joints=None, vertices=None, mano=None, bbox=None,
                    joints_order='freihand'):
        """The sample dict from arrays of one image (joints in ``joints_order``). ``bbox``
        defaults to the projected joints' box; without joints it must be given."""
        K = np.array(K, np.float64)
        has_3d = joints is not None
        if has_3d:
            joints = convert_keypoints(np.asarray(joints, np.float64), joints_order, 'freihand')
            kpts = project(joints, K).astype(np.float32)
        else:
            joints = np.zeros((NUM_KEYPOINTS, 3))
            kpts = np.zeros((NUM_KEYPOINTS, 2), np.float32)
        if bbox is None:
            if not has_3d:
                raise ValueError(f'{img_path}: a sample without 3D joints needs a bbox')
            bbox = np.concatenate([kpts.min(0), kpts.max(0)])
        has_mano = mano is not None
        if not has_mano:
            mano = dict(pose=np.zeros(48), betas=np.zeros(10), trans=np.zeros(3))
        has_verts = vertices is not None
        if not has_verts:
            vertices = np.zeros((NUM_VERTICES, 3))
        return dict(
            img_path=img_path,
            bbox=np.asarray(bbox, np.float32).reshape(1, 4),
            bbox_score=np.ones(1, np.float32),
            keypoints=kpts[None],
            keypoints_visible=np.full((1, NUM_KEYPOINTS), float(has_3d), np.float32),
            keypoints_3d=np.array(joints, np.float64)[None],
            vertices=np.array(vertices, np.float64)[None],
            mano_pose=np.array(mano["pose"], np.float32).reshape(1, 48),
            mano_betas=np.array(mano["betas"], np.float32).reshape(1, 10),
            mano_trans=np.array(mano["trans"], np.float32).reshape(1, 3),
            cam_K=K[None],
            has_3d=np.array([has_3d], np.float32),
            has_mano=np.array([has_mano], np.float32),
            has_verts=np.array([has_verts], np.float32),
            hand_side='right',
            category_id=1,
        )
