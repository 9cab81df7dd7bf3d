"""Camera-frame geometry shared by the mesh datasets and their augmentation.

One place for: projection with intrinsics K, the OpenGL <-> OpenCV camera frame change (HO3D),
and rotating a posed MANO hand about the camera's optical axis (in-plane image rotation).

MANO rotates the hand about its rest-pose root joint J0 (which depends on the shape), so for a
rotation R applied to the posed hand, ``v' = R v``, the parameters change as
``global_orient' = R global_orient`` and ``t' = R (J0 + t) - J0``. The posed root joint equals
``J0 + t`` (the root does not move under its own rotation), so
``t' = R root - root + t``: no MANO model is needed.
"""
import cv2
import numpy as np

#: OpenGL camera (y up, hand at -z) <-> OpenCV camera (y down, +z forward); its own inverse
GL_TO_CV = np.diag([1.0, -1.0, -1.0])


def project(points, K):
    """Pinhole projection of (..., N, 3) camera-frame points with (..., 3, 3) K -> (..., N, 2)."""
    uvw = points @ np.swapaxes(K, -1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def rotate_global_orient(global_orient, R):
    """Axis-angle (3,) of R @ Rodrigues(global_orient)."""
    rot, _ = cv2.Rodrigues(np.asarray(global_orient, np.float64).reshape(3, 1))
    aa, _ = cv2.Rodrigues(R @ rot)
    return aa.reshape(3)


def rotate_posed_hand(R, root, joints=None, vertices=None, mano_pose=None, mano_trans=None):
    """Apply a rotation about the camera origin to a posed hand and its MANO parameters.

    ``root`` (3,) is the posed MANO root joint (wrist) before rotation. Returns a dict with the
    rotated versions of whichever inputs were given.
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


def inplane_rotation(angle_rad):
    """Rotation about the camera's z axis that turns image content by ``angle_rad``.

    Image x right / y down and camera x right / y down share orientation, so a 2D rotation
    matrix of the image lifts to the same block in 3D.
    """
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def split_similarity(warp):
    """Split a 2x3 similarity warp [sR | t] into (scale s, 3D rotation about z R3).

    Raises if the warp is not a similarity (non-uniform scale or shear), since then no camera
    rotation reproduces it.
    """
    lin = np.asarray(warp, np.float64)[:, :2]
    s = np.sqrt(abs(np.linalg.det(lin)))
    rot2 = lin / s
    if not np.allclose(rot2 @ rot2.T, np.eye(2), atol=1e-6) or np.linalg.det(rot2) < 0:
        raise ValueError(f'warp is not a similarity transform (uniform scale + rotation): '
                         f'{warp.tolist()}')
    R3 = np.eye(3)
    R3[:2, :2] = rot2
    return s, R3


def warp_camera(warp, K):
    """New intrinsics and camera rotation for an image warped by a 2x3 similarity ``warp``.

    With ``A`` the 3x3 form of the warp, projecting the rotated points ``R X`` with
    ``K' = A K R^T`` gives exactly ``A (K X)``: the warped image of the original projection.
    For fx == fy, K' is again upper triangular with zero skew.
    """
    _, R = split_similarity(warp)
    A = np.vstack([np.asarray(warp, np.float64), [0.0, 0.0, 1.0]])
    return A @ K @ R.T, R


def cv2_warp_matrix(warp):
    """The matrix to give ``cv2.warpAffine`` for a 2x3 ``warp`` between continuous pixel
    coordinates (pixel i spans [i, i+1), the convention of K, keypoints and the renderer).

    cv2 samples at integer pixel coordinates (centres at i): x_cv = x - 0.5 on both sides,
    so the translation becomes ``t + A @ (0.5, 0.5) - 0.5``. Without it the crop sits
    ``(1 - zoom) / 2`` output pixels away from where the warped K projects.
    """
    warp = np.asarray(warp, np.float64)
    out = warp.copy()
    out[:, 2] += warp[:, :2].sum(axis=1) * 0.5 - 0.5
    return out
