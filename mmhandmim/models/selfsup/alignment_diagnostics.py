"""What drives the aligned class-token latent: the image, or the view's geometry?

L_pose can only learn if the aligned latent that the prototypes see depends on the image. These
are the measurements behind ``benchmarks/pose_alignment_check.py``, the tests and the
collapse monitor (``PoseCollapseMonitorHook``).
"""
from typing import Tuple

import torch
from torch import nn


def _between_shares(latents):
    """Shares (0-d tensors) of the variance of ``latents (N, M, D)`` between the N rows'
    means and between the M columns' means."""
    y = latents.detach().double()
    y = y - y.mean((0, 1))
    total = y.pow(2).sum(-1).mean().clamp_min(1e-24)
    return y.mean(1).pow(2).sum(-1).mean() / total, y.mean(0).pow(2).sum(-1).mean() / total


def variance_shares(latents: torch.Tensor) -> Tuple[float, float]:
    """Two-way split of the variance of latents over images and geometries.

    The rest of the variance is their interaction (what a crop shows depends on both).

    Args:
        latents (torch.Tensor): ``(N, M, D)``: N images, each seen under M geometries.

    Returns:
        Tuple[float, float]: ``(image, geometry)``, plain floats in [0, 1]: the shares of the
        total variance explained by the image (the variance of the per-image means over
        geometries) and by the geometry (the variance of the per-geometry means over images).
    """
    image, geometry = _between_shares(latents)
    return image.item(), geometry.item()


def in_batch_image_share(latents: torch.Tensor) -> torch.Tensor:
    """Share of the variance of a batch's latents between images.

    The training-time proxy of ``variance_shares``' image share: each image is seen under V
    different geometries, so a latent driven by the geometry has a share near ``1 / V`` and
    one driven by the image a share near 1.

    Args:
        latents (torch.Tensor): ``(B, V, D)``: B images, V views of each.

    Returns:
        torch.Tensor: a 0-d float32 tensor (no device sync).
    """
    return _between_shares(latents)[0].float()


@torch.no_grad()
def teacher_aligned_latents(model: nn.Module, views: torch.Tensor,
                            geometry: torch.Tensor) -> torch.Tensor:
    """The teacher's L2-normalised class-token latents as the prototypes see them.

    The latents are aligned when the model aligns (``model.use_pose_alignment``).

    Args:
        model (nn.Module): a ``HandMIM`` (its ``teacher``, ``use_pose_alignment`` and
            ``pose_alignment`` are used).
        views (torch.Tensor): preprocessed views ``(N, M, 3, H, W)``.
        geometry (torch.Tensor): view geometry ``(N, M, 2, 3)``, or ``(M, 2, 3)``: the same M
            geometries for every image.

    Returns:
        torch.Tensor: ``(N, M, D)``.
    """
    n, m = views.shape[:2]
    z = model.teacher.projection_head.bottleneck(
        model.teacher.backbone.forward_features(views.flatten(0, 1))[0]).float()
    if model.use_pose_alignment:
        z = model.pose_alignment(z, geometry.expand(n, m, 2, 3).flatten(0, 1))
    return torch.nn.functional.normalize(z, dim=-1).unflatten(0, (n, m))
