"""Top-down crop for mesh estimation that keeps 2D, 3D and the camera consistent.

mmpose's ``GetBBoxCenterScale`` and ``RandomBBoxTransform`` choose the box (padding, random
shift/scale/rotation); this transform warps the image to the input size with the same affine
matrix as mmpose's ``TopdownAffine`` and then, instead of only moving 2D keypoints, turns the
in-plane rotation into a rotation of the camera about its optical axis: 3D joints, vertices,
MANO global orientation and translation are rotated, and K becomes ``A K R^T`` so that
projecting the rotated 3D joints with the new K lands exactly on the warped 2D keypoints.
"""
import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS
from mmpose.structures.bbox import get_warp_matrix

from ...structures import cv2_warp_matrix, project, rotate_posed_hand, warp_camera


@TRANSFORMS.register_module()
class MeshTopdownAffine(BaseTransform):
    """Crop + resize (+ rotate) to ``input_size`` and update every geometric target.

    Required keys: ``img``, ``bbox_center``, ``bbox_scale``, ``cam_K``; optional:
    ``bbox_rotation``, ``keypoints_3d`` (with ``keypoints``: training and evaluation samples;
    without both: inference), ``vertices``, ``mano_pose``, ``mano_trans``.
    Adds ``input_size``, ``input_center``, ``input_scale``, ``warp_mat`` (2x3, original image
    -> input), and replaces ``cam_K``/``keypoints``/3D targets by their cropped versions.
    """

    def __init__(self, input_size=(224, 224)):
        self.input_size = tuple(int(s) for s in input_size)

    def _square_scale(self, scale):
        # same aspect fix as mmpose's TopdownAffine: grow the short side to the input aspect
        w, h = self.input_size
        aspect = w / h
        sw, sh = scale
        return np.array([sw, sw / aspect] if sw > sh * aspect else [sh * aspect, sh],
                        np.float32)

    def transform(self, results):
        w, h = self.input_size
        center = results['bbox_center'][0]
        scale = self._square_scale(results['bbox_scale'][0])
        rot = float(results['bbox_rotation'][0]) if 'bbox_rotation' in results else 0.0
        warp = get_warp_matrix(center, scale, rot, output_size=(w, h))
        results['img'] = cv2.warpAffine(results['img'], cv2_warp_matrix(warp), (w, h),
                                        flags=cv2.INTER_LINEAR)

        K = results['cam_K'][0].astype(np.float64)
        new_K, R = warp_camera(warp, K)
        results['cam_K'] = new_K[None]
        if 'keypoints_3d' in results:
            self._move_targets(results, warp, R, new_K)
        results['input_size'] = (w, h)
        results['input_center'] = np.asarray(center, np.float32)
        results['input_scale'] = scale
        results['warp_mat'] = warp
        return results

    @staticmethod
    def _move_targets(results, warp, R, new_K):
        joints = results['keypoints_3d'][0].astype(np.float64)
        moved = rotate_posed_hand(
            R, joints[0], joints=joints,
            vertices=results['vertices'][0].astype(np.float64) if 'vertices' in results
            else None,
            mano_pose=results['mano_pose'][0] if 'mano_pose' in results else None,
            mano_trans=results['mano_trans'][0] if 'mano_trans' in results else None)
        results['keypoints_3d'] = moved['joints'][None]  # float64; packing makes f32 labels
        for key, new_key in (('vertices', 'vertices'), ('mano_pose', 'mano_pose'),
                             ('mano_trans', 'mano_trans')):
            if new_key in moved:
                results[key] = moved[new_key][None]
        if results.get('has_3d', np.ones(1))[0] > 0:
            kpts = project(moved['joints'], new_K)
        else:  # no 3D ground truth: move whatever 2D keypoints there are
            kpts = results['keypoints'][0] @ warp[:, :2].T + warp[:, 2]
        results['keypoints'] = kpts.astype(np.float32)[None]

    def __repr__(self):
        return f'{self.__class__.__name__}(input_size={self.input_size})'
