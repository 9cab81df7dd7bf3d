"""Camera-frame geometry: pinhole projection, the OpenGL <-> OpenCV frame change (HO3D) and
moving a posed MANO hand with a rotation of the camera.

Pixel convention of the whole package: **continuous pixel coordinates**, pixel ``i`` spans
``[i, i + 1)`` and its centre is at ``i + 0.5``. Intrinsics ``K``, 2D keypoints, the crop
warps (``image_warp``) and the rasteriser all use it; ``image_warp.cv2_warp_matrix`` is the
only place that converts to OpenCV's integer-centred sampling.

MANO rotates the hand about its rest-pose root joint J0 (which depends on the shape), so for a
rotation R applied to the posed hand, ``v' = R v``, the parameters change as
``global_orient' = R global_orient`` and ``t' = R (J0 + t) - J0``. The posed root joint equals
``J0 + t`` (the root does not move under its own rotation), so
``t' = R root - root + t``: no MANO model is needed.
"""
from typing import Dict, Optional

import numpy as np
import torch

from .frames import CV_TO_GL, GL_TO_CV  # noqa: F401  (part of this module's interface)
from .rotations import aa_to_mat, mat_to_aa


def project(points, K, min_depth: Optional[float] = None):
    """Pinhole projection ``u = (K x)[:2] / (K x)[2]`` of camera-frame points.

    Args:
        points: (..., N, 3) OpenCV camera-frame points, numpy array or tensor.
        K: (..., 3, 3) intrinsics broadcasting against ``points``' leading dimensions.
        min_depth: clamp the depth from below (training losses, where a bad prediction may
            put points behind the camera); None divides by the raw depth.

    Returns:
        (..., N, 2) pixels in continuous pixel coordinates, of the input's type.
    """
    if isinstance(points, torch.Tensor):
        uvw = points @ K.transpose(-1, -2)
        depth = uvw[..., 2:3]
        return uvw[..., :2] / (depth if min_depth is None else depth.clamp(min=min_depth))
    uvw = np.asarray(points) @ np.swapaxes(np.asarray(K), -1, -2)
    depth = uvw[..., 2:3]
    return uvw[..., :2] / (depth if min_depth is None else np.maximum(depth, min_depth))


def rotate_global_orient(global_orient, R) -> np.ndarray:
    """Axis-angle (3,) of ``R @ rotation(global_orient)``."""
    return mat_to_aa(np.asarray(R, np.float64) @ aa_to_mat(global_orient))


def rotate_posed_hand(R, root, joints=None, vertices=None, mano_pose=None,
                      mano_trans=None) -> Dict[str, np.ndarray]:
    """Apply a rotation about the camera origin to a posed hand and its MANO parameters.

    Args:
        R: (3, 3) rotation.
        root: (3,) posed MANO root joint (wrist) before the rotation.
        joints, vertices: (N, 3) camera-frame points.
        mano_pose: (48,) axis-angle; only the global orientation changes.
        mano_trans: (3,) MANO translation.

    Returns:
        The rotated versions of whichever inputs were given, keyed by their argument name.
    """
    out = {}
    if joints is not None:
        out['joints'] = joints @ R.T
    if vertices is not None:
        out['vertices'] = vertices @ R.T
    if mano_pose is not None:
        pose = np.array(mano_pose, np.float64, copy=True)
        pose[:3] = rotate_global_orient(pose[:3], R)
        out['mano_pose'] = pose.astype(np.asarray(mano_pose).dtype)
    if mano_trans is not None:
        root = np.asarray(root, np.float64)
        out['mano_trans'] = (R @ root - root + mano_trans).astype(np.asarray(mano_trans).dtype)
    return out
