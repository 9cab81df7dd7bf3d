"""Similarity warps of an image (the mesh crop) and what they do to its camera.

A warp is a 2x3 matrix ``[s R | t]`` between continuous pixel coordinates of the source image
and of the crop (see ``camera``). A similarity warp of the image equals a rotation ``R`` of
the camera about its optical axis plus new intrinsics, so the crop is again a pinhole camera
(``warp_camera``); ``crop_to_source`` undoes both for everything predicted in the crop.
"""
from typing import Dict, Tuple

import numpy as np


def inplane_rotation(angle_rad: float) -> np.ndarray:
    """Rotation about the camera's z axis that turns image content by ``angle_rad``.

    Image x right / y down and camera x right / y down share orientation, so a 2D rotation
    matrix of the image lifts to the same block in 3D.
    """
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def split_similarity(warp) -> Tuple[float, np.ndarray]:
    """Split a 2x3 similarity warp [sR | t] into (scale s, 3D rotation about z R3).

    Raises:
        ValueError: the warp is not a similarity (non-uniform scale or shear), since then no
            camera rotation reproduces it.
    """
    lin = np.asarray(warp, np.float64)[:, :2]
    s = np.sqrt(abs(np.linalg.det(lin)))
    rot2 = lin / s
    if not np.allclose(rot2 @ rot2.T, np.eye(2), atol=1e-6) or np.linalg.det(rot2) < 0:
        raise ValueError(f'warp is not a similarity transform (uniform scale + rotation): '
                         f'{np.asarray(warp).tolist()}')
    R3 = np.eye(3)
    R3[:2, :2] = rot2
    return s, R3


def homogeneous(warp) -> np.ndarray:
    """3x3 form of a 2x3 affine."""
    return np.vstack([np.asarray(warp, np.float64), [0.0, 0.0, 1.0]])


def invert_warp(warp) -> np.ndarray:
    """2x3 inverse of a 2x3 affine warp."""
    return np.linalg.inv(homogeneous(warp))[:2]


def warp_camera(warp, K) -> Tuple[np.ndarray, np.ndarray]:
    """New intrinsics and camera rotation for an image warped by a 2x3 similarity ``warp``.

    With ``A`` the 3x3 form of the warp, projecting the rotated points ``R X`` with
    ``K' = A K R^T`` gives exactly ``A (K X)``: the warped image of the original projection.
    For fx == fy, K' is again upper triangular with zero skew.
    """
    _, R = split_similarity(warp)
    return homogeneous(warp) @ K @ R.T, R


def crop_to_source(warp, keypoints_2d=None, **points_3d) -> Dict[str, np.ndarray]:
    """Bring what is expressed in the crop (pixels, camera frame) back to the source image.

    Args:
        warp: the 2x3 similarity source -> crop.
        keypoints_2d: (..., 2) crop pixels, mapped through the inverse warp (exact, rotation
            included).
        **points_3d: (..., 3) arrays in the crop's camera frame (rotated by R from the
            source camera), rotated back: ``x_source = R^T x_crop``.

    Returns:
        The same keys (``keypoints_2d`` and each of ``points_3d``), in the source frame.
    """
    _, R = split_similarity(warp)
    out = {key: np.asarray(value) @ R for key, value in points_3d.items()}
    if keypoints_2d is not None:
        inv = invert_warp(warp)
        out['keypoints_2d'] = np.asarray(keypoints_2d) @ inv[:, :2].T + inv[:, 2]
    return out


def cv2_warp_matrix(warp) -> np.ndarray:
    """The matrix to give ``cv2.warpAffine`` for a 2x3 ``warp`` between continuous pixel
    coordinates (the package's convention, see ``camera``).

    cv2 samples at integer pixel coordinates (centres at i): x_cv = x - 0.5 on both sides,
    so the translation becomes ``t + A @ (0.5, 0.5) - 0.5``. Without it the crop sits
    ``(1 - zoom) / 2`` output pixels away from where the warped K projects.
    """
    warp = np.asarray(warp, np.float64)
    out = warp.copy()
    out[:, 2] += warp[:, :2].sum(axis=1) * 0.5 - 0.5
    return out
