"""Pose-aware pseudo-keypoint alignment (HandMIM eq. 3-4), in selectable readings.

The paper reads the class token's bottleneck ``tau`` (256-d) as 128 pseudo points and undoes
the view's geometric augmentation on them, ``tau' = 1/gamma (R^-1 tau + (a, b))``, so that
the latents of different views are expressed in the source image's frame. The points are
read as interleaved ``(x, y)`` pairs (``z.view(..., 128, 2)``) in the view's *normalised*
coordinates (view centre 0, view edges at +-1, the convention of ``view_geometry``); the view
affine is ``v = A u + t``. What the paper leaves open is the units of the points, and that
decides whether the alignment's output depends on the image at all:

* ``'eq4'``, the literal reading ``u = A^-1 (v - t) = A^-1 v + c``: ``c`` (the crop centre in
  source coordinates) is added to all 128 points. The bottleneck of the 0.02-initialised MLP
  is far shorter than ``c`` (0.07 vs 2.15 for the demo model), so after L2 normalisation the
  aligned latent is almost only the crop-centre direction (99.5 % of its variance, the image
  0.1-0.6 %) and L_pose collapses to ln K. Kept for comparison, off by default.
* ``'centred'`` (default): ``u = A^-1 (v - mean_k v)``. For real keypoints this *is* eq. 4 up
  to the points' centroid: ``v_k - v_mean = A (u_k - u_mean)``, so it returns the source-frame
  points relative to their centroid, the same from every view, and nothing in it scales with
  the crop position. It drops two of 256 numbers (where the hand sits in the source), which
  is no pose information.
* ``'linear'``: ``u = A^-1 v``, undo rotation and scale only (the points read as
  displacements from the view centre).
* ``'unit_rms'``: points rescaled to unit RMS radius (a unit is half a view), then the exact
  eq. 4, translation included.

Before any of them, ``PoseAlignment`` subtracts a running centre of the teacher's
bottlenecks (``center_momentum``, DINO's centring moved from the logits to the bottleneck). The
part of a latent shared by all images carries no information, but rotated with each view it
becomes a geometry-driven signal that the logit centre cannot remove: at +-30 deg it held the
class loss above plain iBOT's; with the centre it falls below (figures in ``docs/method.md``).

The choice was made by measurement (``benchmarks/pose_alignment_check.py``). The aligned
bottleneck is then L2-normalised and projected to the prototypes like any other. Both the
student's and the teacher's class tokens are aligned, each with its own view's geometry.
"""
from typing import Optional

import torch
from torch import nn

from mmhandmim.structures import invert_affine

from .losses import update_batch_mean_ema_

ALIGNMENT_MODES = ('centred', 'linear', 'unit_rms', 'eq4')


def _check_mode(mode):
    if mode not in ALIGNMENT_MODES:
        raise ValueError(f'unknown pose alignment mode {mode!r}; choose one of '
                         f'{ALIGNMENT_MODES}')


def align_pseudo_keypoints(z: torch.Tensor, view_geometry: torch.Tensor,
                           mode: str = 'centred') -> torch.Tensor:
    """Map bottlenecks of views, read as K pseudo points, to the source frame.

    Computed in float32 (autocast-safe).

    Args:
        z (torch.Tensor): bottlenecks ``(..., 2K)`` (interleaved ``(x, y)`` pairs).
        view_geometry (torch.Tensor): the views' affines ``(..., 2, 3)``.
        mode (str): one of ``ALIGNMENT_MODES`` (see the module doc).

    Returns:
        torch.Tensor: ``(..., 2K)`` float32.

    Raises:
        ValueError: unknown ``mode``.
    """
    _check_mode(mode)
    points = z.float().unflatten(-1, (-1, 2))
    inverse = invert_affine(view_geometry.float())
    lin, shift = inverse[..., :2], inverse[..., 2].unsqueeze(-2)
    if mode == 'centred':
        points = points - points.mean(-2, keepdim=True)
    elif mode == 'unit_rms':
        rms = points.pow(2).sum(-1).mean(-1, keepdim=True).sqrt().unsqueeze(-1)
        points = points / rms.clamp_min(1e-6)
    out = points @ lin.transpose(-1, -2)
    if mode in ('eq4', 'unit_rms'):
        out = out + shift
    return out.flatten(-2)


class PoseAlignment(nn.Module):
    """Eq. 3-4 with its state: ``align(z - centre, geometry)``.

    Args:
        dim (int): bottleneck width (256 = 128 points; the projection head checks it is even).
        mode (str): one of ``ALIGNMENT_MODES`` (see the module doc).
        center_momentum (float, optional): momentum of the running centre of the teacher's
            bottlenecks (averaged over processes, as the teacher centres); None: no centre.
            The paper's literal reading is ``mode='eq4', center_momentum=None``.

    Raises:
        ValueError: unknown ``mode``.
    """

    def __init__(self, dim: int = 256, mode: str = 'centred',
                 center_momentum: Optional[float] = 0.9) -> None:
        super().__init__()
        _check_mode(mode)
        self.mode, self.center_momentum = mode, center_momentum
        self.register_buffer('center', torch.zeros(1, dim))

    def forward(self, z: torch.Tensor, view_geometry: torch.Tensor) -> torch.Tensor:
        """Align bottlenecks after subtracting the running centre (when there is one).

        Args:
            z (torch.Tensor): bottlenecks ``(..., dim)``.
            view_geometry (torch.Tensor): the views' affines ``(..., 2, 3)``.

        Returns:
            torch.Tensor: aligned bottlenecks ``(..., dim)`` float32.
        """
        if self.center_momentum is not None:
            z = z.float() - self.center
        return align_pseudo_keypoints(z, view_geometry, self.mode)

    @torch.no_grad()
    def update_center(self, teacher_z: torch.Tensor) -> None:
        """EMA of the batch mean of the teacher's (unaligned) bottlenecks; no-op without centre.

        Args:
            teacher_z (torch.Tensor): ``(N, dim)``.
        """
        if self.center_momentum is not None:
            update_batch_mean_ema_(self.center, teacher_z, self.center_momentum)

    def extra_repr(self) -> str:
        """The mode and centre momentum, for ``repr``.

        Returns:
            str: ``mode=..., center_momentum=...``.
        """
        return f'mode={self.mode!r}, center_momentum={self.center_momentum}'
