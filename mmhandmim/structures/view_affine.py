"""Geometry of an augmented view relative to its source image (HandMIM eq. 3-4).

Convention (used by the multi-view transform, the pose alignment and the tests):

* **Normalised coordinates.** A point at continuous pixel position ``(x, y)`` of a ``W x H``
  image (x to the right, y down, pixel ``i`` spanning ``[i, i + 1)``: the package's one pixel
  convention, see ``camera``) has normalised coordinates ``(2x / W - 1, 2y / H - 1)``. The
  image's outer edges are at -1 and +1 and its centre is 0 (``align_corners=False`` of
  ``F.grid_sample``). Source coordinates are ``u``, view coordinates ``v``.
* **View geometry** is a 2x3 affine ``G = [A | t]`` with ``v = A u + t``. A view is a crop of
  the source centred at ``c`` (normalised source coordinates) whose normalised extent is
  ``2 / s`` (``s = (s_x, s_y)``, the crop is stretched to the square view), turned by ``theta``
  about the view centre: ``A = R(theta) diag(s)``, ``t = -A c``. Hence
  ``v = R (diag(s) u - (a, b))`` with ``(a, b) = diag(s) c``: the paper's eq. 3 with the crop
  offset measured from the image centre and a per-axis scale ``gamma = s`` (a random resized
  crop with aspect jitter scales x and y differently, so one scalar gamma would not be exact).
  The inverse, ``u = diag(s)^-1 (R^-1 v + (a, b)) = A^-1 (v - t)``, is the paper's eq. 4.
* ``R(theta) = [[cos, -sin], [sin, cos]]`` acts on (x right, y down) coordinates, so a positive
  theta turns the image content clockwise on screen.

``source_to_view``/``view_to_source``/``invert_affine`` are torch functions vectorised over any
leading batch dimensions: points ``(..., K, 2)``, affines ``(..., 2, 3)``.
"""
import math

import numpy as np
import torch

from .image_warp import cv2_warp_matrix


# --- building views (numpy, used by the data pipeline) -------------------------------------
def make_view_affine(center, scale, angle_deg):
    """2x3 float64 affine ``v = R(theta) diag(scale) (u - center)`` in normalised coordinates."""
    theta = math.radians(angle_deg)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    lin = rot @ np.diag(np.asarray(scale, dtype=np.float64))
    return np.concatenate([lin, -(lin @ np.asarray(center, dtype=np.float64))[:, None]], 1)


def pixel_to_normalized_matrix(width, height):
    """3x3 matrix taking homogeneous pixel coordinates to normalised coordinates."""
    return np.array([[2.0 / width, 0, -1.0], [0, 2.0 / height, -1.0], [0, 0, 1]])


def view_pixel_warp(affine, src_size, dst_size):
    """The 2x3 source-pixel -> view-pixel warp of a view (sizes are ``(width, height)``)."""
    to_norm = pixel_to_normalized_matrix(*src_size)
    to_pixel = np.linalg.inv(pixel_to_normalized_matrix(*dst_size))
    full = np.concatenate([np.asarray(affine, np.float64), [[0, 0, 1]]], 0)
    return (to_pixel @ full @ to_norm)[:2]


def view_cv2_matrix(affine, src_size, dst_size):
    """The matrix to give ``cv2.warpAffine`` to cut the view out of the source image."""
    return cv2_warp_matrix(view_pixel_warp(affine, src_size, dst_size))


# --- applying views (torch, vectorised; used by the model) ---------------------------------
def invert_affine(affine: torch.Tensor) -> torch.Tensor:
    """Inverse of ``v = A u + t`` as another ``(..., 2, 3)`` affine ``u = A^-1 v - A^-1 t``."""
    lin, t = affine[..., :2], affine[..., 2:]
    a, b, c, d = lin[..., 0, 0], lin[..., 0, 1], lin[..., 1, 0], lin[..., 1, 1]
    det = (a * d - b * c)[..., None, None]
    # closed-form 2x2 inverse: exact enough in float32 and works under autocast
    inv = torch.stack([torch.stack([d, -b], -1), torch.stack([-c, a], -1)], -2) / det
    return torch.cat([inv, -inv @ t], -1)


def apply_affine(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """``points (..., K, 2)`` mapped by ``affine (..., 2, 3)``."""
    return points @ affine[..., :2].transpose(-1, -2) + affine[..., 2].unsqueeze(-2)


def source_to_view(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Normalised source points ``u`` to normalised view points ``v`` (eq. 3)."""
    return apply_affine(points, affine)


def view_to_source(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Normalised view points ``v`` back to the source frame (eq. 4)."""
    return apply_affine(points, invert_affine(affine))


def normalized_to_pixel(points, width, height):
    """Inverse of ``pixel_to_normalized`` (numpy arrays and tensors)."""
    x = (points[..., 0] + 1) * width / 2
    y = (points[..., 1] + 1) * height / 2
    stack = torch.stack if isinstance(points, torch.Tensor) else np.stack
    return stack([x, y], -1)


def pixel_to_normalized(points, width, height):
    """(..., 2) continuous pixel coordinates -> normalised coordinates."""
    x = 2 * points[..., 0] / width - 1
    y = 2 * points[..., 1] / height - 1
    stack = torch.stack if isinstance(points, torch.Tensor) else np.stack
    return stack([x, y], -1)
