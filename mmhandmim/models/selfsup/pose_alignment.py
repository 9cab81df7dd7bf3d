"""Pose-aware pseudo-keypoint alignment (HandMIM eq. 3-4).

The paper reads the class token's bottleneck ``tau`` (256-d) as 128 pseudo points and undoes
the view's geometric augmentation on them, ``tau' = 1/gamma (R^-1 tau + (a, b))``, so that
the latents of different views are expressed in the source image's frame.

What the paper leaves open, decided here: the points are read as interleaved ``(x, y)`` pairs
(``z.view(..., 128, 2)``) in the view's *normalised* coordinates (view centre 0, view edges at
+-1, the convention of ``view_geometry``), and mapped with the exact inverse of the view's
affine, ``u = A^-1 (v - t)``, into normalised source coordinates. The latent is unbounded; the
MLP learns its scale, and the frame only fixes what a unit means (half a view). The aligned
bottleneck is then L2-normalised and projected to the prototypes like any other. Both the
student's and the teacher's class tokens are aligned, each with its own view's geometry, so
the cross-view targets of L_pose compare latents in one frame.
"""
import torch

from mmhandmim.datasets.transforms.view_geometry import view_to_source


def align_pseudo_keypoints(z: torch.Tensor, view_geometry: torch.Tensor) -> torch.Tensor:
    """Map bottlenecks ``z (..., 2K)`` of views with ``view_geometry (..., 2, 3)`` to the source.

    Computed in float32 (autocast-safe); returns ``(..., 2K)`` float32.
    """
    points = z.float().unflatten(-1, (-1, 2))
    return view_to_source(points, view_geometry.float()).flatten(-2)
