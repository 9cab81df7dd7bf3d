"""MANO as a registered layer: pose + shape -> vertices, 16 joints and 21 keypoints.

Builds ``smplx.MANO`` from a dict read by the chumpy-free loader (``data_struct=``, so smplx
never unpickles the file itself) and keeps its arrays as *non-persistent* buffers: checkpoints
of models that contain this layer carry no MANO data, and loading one never replaces the hand
model the config points at.
"""
import contextlib
import io
import os
from typing import Dict, Optional, Sequence, Union

import smplx
import torch
from mmengine.logging import print_log
from mmpose.registry import MODELS
from smplx.lbs import lbs
from smplx.utils import Struct
from torch import nn

from ..structures import axis_angle_to_matrix, rot6d_to_matrix
from .handedness import check_handedness as check_side
from .keypoints import DEFAULT_FINGERTIP_CONVENTION, check_order, conversion_index
from .keypoints import fingertip_ids as named_fingertip_ids
from .mano_io import STANDIN_KEY, check_mano_keys, is_standin, load_mano_dict, resolve_mano_file

NUM_JOINTS = 16


@MODELS.register_module()
class MANOLayer(nn.Module):
    """MANO hand model layer (also runs the stand-in hand model, not MANO, for tests).

    Args:
        model_path: directory holding ``MANO_RIGHT.pkl``/``MANO_LEFT.pkl``, or a .pkl file;
            ``'standin'`` for the procedural stand-in hand model (not MANO); None for
            ``$MMHANDMIM_MANO_DIR`` or ``data/mano``.
        is_rhand: right (True) or left hand model.
        keypoint_order: order of the returned ``keypoints``: 'freihand' or 'ho3d' (21 points)
            or 'mano16' (the 16 joints only).
        fingertip_ids: 5 vertex ids (thumb, index, middle, ring, pinky) or a convention name
            ('freihand', 'ho3d', 'common', 'standin'); None: the stand-in's own tips when the
            stand-in is loaded, else the keypoint order's dataset convention.
        flat_hand_mean: False (MANO's default) adds ``hands_mean`` to axis-angle finger poses.
        use_pca: axis-angle input is (B, 3 + num_pca_comps): global orientation + PCA
            coefficients of the finger pose.
        num_pca_comps: number of pose PCA components with ``use_pca``.
        check_handedness: refuse a file whose rest skeleton is the other hand (a left model
            under the right hand's name); see ``handedness.py``.

    ``forward(pose, betas=None, transl=None)`` accepts ``pose`` as
      * axis-angle (B, 48) or (B, 16, 3) (or (B, 3 + num_pca_comps) with ``use_pca``);
        ``hands_mean`` is added to the finger part unless ``flat_hand_mean``;
      * rotation matrices (B, 16, 3, 3), or 6D (B, 16, 6) (Zhou et al., first two columns):
        the final local joint rotations, used as they are (no ``hands_mean``: it is an
        axis-angle offset). ``pose_to_rotmat`` gives these for any input.
    and returns a dict with ``vertices`` (B, 778, 3), ``joints`` (B, 16, 3) and ``keypoints``
    (B, 21, 3) in ``keypoint_order`` (B, 16, 3 for 'mano16'); metres, ``transl`` added.
    """

    def __init__(self,
                 model_path: Optional[str] = None,
                 is_rhand: bool = True,
                 keypoint_order: str = 'freihand',
                 fingertip_ids: Union[None, str, Sequence[int]] = None,
                 flat_hand_mean: bool = False,
                 use_pca: bool = False,
                 num_pca_comps: int = 6,
                 check_handedness: bool = True):
        super().__init__()
        self.keypoint_order = check_order(keypoint_order)
        self.is_rhand = bool(is_rhand)
        self.flat_hand_mean = bool(flat_hand_mean)
        self.use_pca = bool(use_pca)
        self.num_pca_comps = int(num_pca_comps)
        self.model_file = resolve_mano_file(model_path, is_rhand)
        data = load_mano_dict(self.model_file)
        check_mano_keys(data, self.model_file)  # before smplx fails on a missing attribute
        if check_handedness:
            check_side(data, self.model_file, self.is_rhand)
        self.is_standin = is_standin(data)
        if self.is_standin:
            print_log(f'MANOLayer uses the stand-in hand model (not MANO): {self.model_file}',
                      logger='current')
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a 10-betas notice
            mano = smplx.MANO(
                model_path=os.path.dirname(self.model_file), is_rhand=self.is_rhand,
                data_struct=Struct(**data), use_pca=self.use_pca,
                num_pca_comps=self.num_pca_comps, flat_hand_mean=self.flat_hand_mean,
                create_global_orient=False, create_hand_pose=False, create_betas=False,
                create_transl=False, batch_size=1)
        self.num_betas = mano.num_betas
        for name in ('v_template', 'shapedirs', 'posedirs', 'J_regressor', 'parents',
                     'lbs_weights', 'pose_mean'):
            self.register_buffer(name, getattr(mano, name).clone(), persistent=False)
        if self.use_pca:
            self.register_buffer('hand_components', mano.hand_components.clone(),
                                 persistent=False)
        self.register_buffer('faces', mano.faces_tensor.clone().long(), persistent=False)

        self.fingertip_ids = self._resolve_tips(fingertip_ids, data)
        # keypoints = [16 joints | 5 tips] (HO3D order) reordered to keypoint_order
        self.register_buffer('_keypoint_index',
                             torch.from_numpy(conversion_index('ho3d', keypoint_order)),
                             persistent=False)
        self.register_buffer('_tip_index', torch.tensor(self.fingertip_ids, dtype=torch.long),
                             persistent=False)

    def _resolve_tips(self, fingertip_ids, data) -> tuple:
        if fingertip_ids is None:
            ids = (data[STANDIN_KEY]['fingertip_ids'] if self.is_standin else
                   named_fingertip_ids(DEFAULT_FINGERTIP_CONVENTION[self.keypoint_order]))
        elif fingertip_ids == 'standin':  # the tips the stand-in's own file names
            if not self.is_standin:
                raise ValueError("fingertip_ids='standin' names vertices of the stand-in hand "
                                 f'model (not MANO), but {self.model_file} is not the stand-in.')
            ids = data[STANDIN_KEY]['fingertip_ids']
        elif isinstance(fingertip_ids, str):
            ids = named_fingertip_ids(fingertip_ids)
        else:
            ids = fingertip_ids
        ids = tuple(int(i) for i in ids)
        if len(ids) != 5 or not all(0 <= i < self.num_vertices for i in ids):
            raise ValueError(f'fingertip_ids must be 5 vertex ids in [0, {self.num_vertices}) '
                             f'ordered thumb, index, middle, ring, pinky; got {ids}.')
        return ids

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    def pose_to_rotmat(self, pose: torch.Tensor) -> torch.Tensor:
        """(B, 16, 3, 3) local joint rotations that ``forward`` skins with, for any input."""
        kind, pose = self._parse_pose(pose)
        if kind == 'rotmat':
            return pose
        return axis_angle_to_matrix(pose.view(pose.shape[0], NUM_JOINTS, 3))

    def _parse_pose(self, pose: torch.Tensor):
        """('axis_angle', (B, 48) with hands_mean/PCA applied) or ('rotmat', (B, 16, 3, 3))."""
        pose = pose.to(self.v_template.dtype)
        shape = tuple(pose.shape)
        if pose.dim() == 4 and shape[1:] == (NUM_JOINTS, 3, 3):
            return 'rotmat', pose
        if pose.dim() == 3 and shape[1:] == (NUM_JOINTS, 6):
            return 'rotmat', rot6d_to_matrix(pose)
        if pose.dim() == 3 and shape[1:] == (NUM_JOINTS, 3):
            pose = pose.reshape(shape[0], -1)
        expected = 3 + (self.num_pca_comps if self.use_pca else 45)
        if pose.dim() != 2 or pose.shape[1] != expected:
            raise ValueError(
                f'pose must be axis-angle (B, {expected})'
                + ('' if self.use_pca else ' or (B, 16, 3), rotation matrices (B, 16, 3, 3) '
                   'or 6D (B, 16, 6)') + f'; got shape {shape}.')
        hand = pose[:, 3:]
        if self.use_pca:
            hand = hand @ self.hand_components
        return 'axis_angle', torch.cat([pose[:, :3], hand], dim=1) + self.pose_mean

    def forward(self, pose: torch.Tensor, betas: Optional[torch.Tensor] = None,
                transl: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        kind, full_pose = self._parse_pose(pose)
        batch = full_pose.shape[0]
        dtype = self.v_template.dtype
        if betas is None:
            betas = self.v_template.new_zeros(batch, self.num_betas)
        elif betas.shape != (batch, self.num_betas):
            raise ValueError(f'betas must be (B, {self.num_betas}) with B = {batch}; got '
                             f'{tuple(betas.shape)}.')
        vertices, joints = lbs(betas.to(dtype), full_pose, self.v_template, self.shapedirs,
                               self.posedirs, self.J_regressor, self.parents,
                               self.lbs_weights, pose2rot=kind == 'axis_angle')
        if transl is not None:
            transl = transl.to(dtype).view(batch, 1, 3)
            vertices, joints = vertices + transl, joints + transl
        ho3d = torch.cat([joints, vertices.index_select(1, self._tip_index)], dim=1)
        keypoints = ho3d.index_select(1, self._keypoint_index)
        return dict(vertices=vertices, joints=joints, keypoints=keypoints)

    def extra_repr(self) -> str:
        model = 'stand-in hand model (not MANO)' if self.is_standin else 'MANO'
        return (f'{model}: {self.model_file}, is_rhand={self.is_rhand}, '
                f'keypoint_order={self.keypoint_order!r}, fingertip_ids={self.fingertip_ids}, '
                f'flat_hand_mean={self.flat_hand_mean}, use_pca={self.use_pca}')
