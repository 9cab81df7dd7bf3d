"""Weak-perspective camera (s, tx, ty) of a crop -> translation in the crop's real camera.

The head predicts a weak-perspective camera, as PyMAF and HaMeR do: a root-relative point X
appears at ``u = s * W/2 * (X + t) + W/2`` in the W x H crop. Matching that to the pinhole
projection with the crop's intrinsics K (``u = fx (X + T) / Tz + cx``) gives the translation
T with ``Tz = 2 f / (s W)`` and offsets that account for a principal point away from the crop
centre, so the 2D reprojection loss (eq. 12) projects with the real K.
"""
import torch


def weak_cam_to_translation(cam, K, img_size, min_scale=1e-2):
    """(B, 3) weak-perspective cameras -> (B, 3) translations of the root joint.

    Args:
        cam: (B, 3) ``(s, tx, ty)``.
        K: (B, 3, 3) intrinsics of the crop.
        img_size: (W, H) of the crop in pixels.
    """
    W, H = img_size
    s = cam[:, 0].clamp(min=min_scale)
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    tz = (fx + fy) / (s * W)  # 2 f / (s W) with f the mean focal length
    half = s * W / 2
    tx = (cam[:, 1] * half + W / 2 - cx) * tz / fx
    ty = (cam[:, 2] * half + H / 2 - cy) * tz / fy
    return torch.stack([tx, ty, tz], dim=-1)


def project_points(points, K):
    """(B, N, 3) camera-frame points -> (B, N, 2) pixels with (B, 3, 3) intrinsics."""
    uvw = points @ K.transpose(1, 2)
    return uvw[..., :2] / uvw[..., 2:3].clamp(min=1e-6)


def translation_to_weak_cam(transl, K, img_size):
    """Inverse of ``weak_cam_to_translation``: the (s, tx, ty) that puts the root at
    ``transl`` (used for mean parameters and to feed ground truth through the head)."""
    W, H = img_size
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    tz = transl[:, 2]
    s = (fx + fy) / (tz * W)
    half = s * W / 2
    tx = (transl[:, 0] * fx / tz - W / 2 + cx) / half
    ty = (transl[:, 1] * fy / tz - H / 2 + cy) / half
    return torch.stack([s, tx, ty], dim=-1)
