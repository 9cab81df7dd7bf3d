"""Weak-perspective camera (s, tx, ty) of a crop -> translation in the crop's real camera.

The head predicts a weak-perspective camera, as PyMAF and HaMeR do: a root-relative point X
appears at ``u = s * W/2 * (X + t) + W/2`` in the W x H crop. Matching that to the pinhole
projection with the crop's intrinsics K (``u = fx (X + T) / Tz + cx``) gives the translation
T with ``Tz = 2 f / (s W)`` and offsets that account for a principal point away from the crop
centre, so the 2D reprojection loss (eq. 12) projects with the real K.
"""
from typing import Tuple

import torch


def weak_cam_to_translation(cam: torch.Tensor, K: torch.Tensor, img_size: Tuple[int, int],
                            min_scale: float = 1e-2) -> torch.Tensor:
    """(B, 3) weak-perspective cameras -> (B, 3) translations of the root joint.

    Args:
        cam (torch.Tensor): (B, 3) ``(s, tx, ty)``.
        K (torch.Tensor): (B, 3, 3) intrinsics of the crop.
        img_size (Tuple[int, int]): (W, H) of the crop in pixels.
        min_scale (float): ``s`` is clamped to at least this (bounds the depth).

    Returns:
        torch.Tensor: (B, 3) translations ``(tx, ty, tz)`` in the crop's camera frame.
    """
    W, H = img_size
    s = cam[:, 0].clamp(min=min_scale)
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    tz = (fx + fy) / (s * W)  # 2 f / (s W) with f the mean focal length
    half = s * W / 2
    tx = (cam[:, 1] * half + W / 2 - cx) * tz / fx
    ty = (cam[:, 2] * half + H / 2 - cy) * tz / fy
    return torch.stack([tx, ty, tz], dim=-1)


def translation_to_weak_cam(transl: torch.Tensor, K: torch.Tensor,
                            img_size: Tuple[int, int]) -> torch.Tensor:
    """Inverse of ``weak_cam_to_translation``: the (s, tx, ty) that puts the root at ``transl``.

    Used for mean parameters and to feed ground truth through the head.

    Args:
        transl (torch.Tensor): (B, 3) root joint translations in the crop's camera frame.
        K (torch.Tensor): (B, 3, 3) intrinsics of the crop.
        img_size (Tuple[int, int]): (W, H) of the crop in pixels.

    Returns:
        torch.Tensor: (B, 3) weak-perspective cameras ``(s, tx, ty)``.
    """
    W, H = img_size
    fx, fy, cx, cy = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2]
    tz = transl[:, 2]
    s = (fx + fy) / (tz * W)
    half = s * W / 2
    tx = (transl[:, 0] * fx / tz - W / 2 + cx) / half
    ty = (transl[:, 1] * fy / tz - H / 2 + cy) / half
    return torch.stack([s, tx, ty], dim=-1)
