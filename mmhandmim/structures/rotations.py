"""Rotations: conversions (torch, batched over any leading dimensions), the chordal mean and
float64 numpy front-ends; the one owner of rotation maths in the package.

pytorch3d is not a dependency; these follow the same maths. The 6D representation is Zhou et
al. (CVPR 2019) as the paper defines it and HaMeR uses it: the first two *columns* of the
rotation matrix, ``x[..., :3]`` = column 0 and ``x[..., 3:]`` = column 1.
"""
import numpy as np
import torch
import torch.nn.functional as F

_SMALL = 1e-6  # below this angle (rad) the Taylor forms are exact to float32 precision


def _skew(v: torch.Tensor) -> torch.Tensor:
    x, y, z = v.unbind(-1)
    zero = torch.zeros_like(x)
    return torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(
        v.shape[:-1] + (3, 3))


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrices (Rodrigues).

    Exact at zero angle (no epsilon bias) and differentiable everywhere.
    """
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < _SMALL ** 2
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / (theta * theta))
    k = _skew(axis_angle)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device)
    return eye + a[..., None] * k + b[..., None] * (k @ k)


def _sqrt_positive(x: torch.Tensor) -> torch.Tensor:
    # sqrt(max(x, 0)) with a zero (not NaN) gradient where x <= 0
    out = torch.zeros_like(x)
    pos = x > 0
    out[pos] = torch.sqrt(x[pos])
    return out


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0.

    Computes the four candidate forms and keeps the best-conditioned one per matrix, so it is
    accurate for every angle including 180 degrees.
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # 2 |q_i| from the diagonal
    q_abs = _sqrt_positive(torch.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
        1 - m00 + m11 - m22, 1 - m00 - m11 + m22], dim=-1))
    r21, r12 = m[..., 2, 1], m[..., 1, 2]
    r02, r20 = m[..., 0, 2], m[..., 2, 0]
    r10, r01 = m[..., 1, 0], m[..., 0, 1]
    candidates = torch.stack([
        torch.stack([q_abs[..., 0] ** 2, r21 - r12, r02 - r20, r10 - r01], dim=-1),
        torch.stack([r21 - r12, q_abs[..., 1] ** 2, r10 + r01, r02 + r20], dim=-1),
        torch.stack([r02 - r20, r10 + r01, q_abs[..., 2] ** 2, r12 + r21], dim=-1),
        torch.stack([r10 - r01, r20 + r02, r21 + r12, q_abs[..., 3] ** 2], dim=-1),
    ], dim=-2) / (2 * torch.clamp(q_abs[..., None], min=0.1))
    best = q_abs.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(best.shape + (1, 4)))[..., 0, :]
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternions (w, x, y, z) -> (..., 3) axis-angle with angle in [0, pi]."""
    q = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    w, v = q[..., :1], q[..., 1:]
    # clamped so the gradient stays finite at the identity
    sin_half = torch.sqrt(torch.clamp((v * v).sum(-1, keepdim=True), min=1e-30))
    angle = 2 * torch.atan2(sin_half, w)
    small = sin_half < _SMALL
    # angle / sin(angle/2) -> 2 / w (1 + ...) as the angle -> 0
    scale = torch.where(small, 2 / torch.clamp(w, min=_SMALL),
                        angle / torch.where(small, torch.ones_like(sin_half), sin_half))
    return v * scale


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrices -> (..., 3) axis-angle (angle in [0, pi])."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def rot6d_to_matrix(rot6d: torch.Tensor) -> torch.Tensor:
    """(..., 6) Zhou et al. 6D -> (..., 3, 3) by Gram-Schmidt on the two stored columns."""
    a1, a2 = rot6d[..., :3], rot6d[..., 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack([b1, b2, b3], dim=-1)


def matrix_to_rot6d(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns, column 0 first."""
    return torch.cat([matrix[..., :, 0], matrix[..., :, 1]], dim=-1)


def project_to_so3(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) matrices -> the nearest rotations in the Frobenius norm (SVD, det +1)."""
    u, _, vh = torch.linalg.svd(matrix)
    d = torch.det(u @ vh)
    fix = torch.ones(matrix.shape[:-1], dtype=matrix.dtype, device=matrix.device)
    fix[..., -1] = d.sign() + (d == 0).to(matrix.dtype)  # sign(0) would zero a column
    return u @ torch.diag_embed(fix) @ vh


def chordal_mean(rotmats: torch.Tensor) -> torch.Tensor:
    """(N, ..., 3, 3) rotations -> (..., 3, 3) chordal L2 mean (SVD of the average)."""
    return project_to_so3(rotmats.mean(0))


# --- float64 numpy front-ends (data pipeline, generator, tools) ----------------------------
# The same formulas as the torch functions above, written again in numpy: the data pipeline
# calls them for one hand per sample, where a dozen tiny torch ops cost ~0.35 ms per call
# (0.7 ms of a 2.9 ms fine-tuning sample) and numpy takes ~25 us. The tests hold the two
# versions equal to float64 rounding.
def aa_to_mat(axis_angle) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 3, 3) float64 numpy rotation matrices (Rodrigues)."""
    v = np.asarray(axis_angle, np.float64)
    theta2 = (v * v).sum(-1, keepdims=True)
    small = theta2 < _SMALL ** 2
    theta = np.sqrt(np.where(small, 1.0, theta2))
    a = np.where(small, 1 - theta2 / 6, np.sin(theta) / theta)
    b = np.where(small, 0.5 - theta2 / 24, (1 - np.cos(theta)) / (theta * theta))
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(v.shape[:-1] + (3, 3))
    return np.eye(3) + a[..., None] * k + b[..., None] * (k @ k)


def mat_to_aa(matrix) -> np.ndarray:
    """(..., 3, 3) rotation matrices -> (..., 3) float64 numpy axis-angle (angle in [0, pi]),
    through the best-conditioned quaternion (as ``matrix_to_quaternion``)."""
    m = np.asarray(matrix, np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    q_abs = np.sqrt(np.maximum(np.stack([
        1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
        1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1), 0))
    r21, r12, r02, r20 = m[..., 2, 1], m[..., 1, 2], m[..., 0, 2], m[..., 2, 0]
    r10, r01 = m[..., 1, 0], m[..., 0, 1]
    candidates = np.stack([
        np.stack([q_abs[..., 0] ** 2, r21 - r12, r02 - r20, r10 - r01], -1),
        np.stack([r21 - r12, q_abs[..., 1] ** 2, r10 + r01, r02 + r20], -1),
        np.stack([r02 - r20, r10 + r01, q_abs[..., 2] ** 2, r12 + r21], -1),
        np.stack([r10 - r01, r20 + r02, r21 + r12, q_abs[..., 3] ** 2], -1),
    ], -2) / (2 * np.maximum(q_abs[..., None], 0.1))
    q = np.take_along_axis(candidates, q_abs.argmax(-1)[..., None, None], -2)[..., 0, :]
    q = q / np.maximum(np.linalg.norm(q, axis=-1, keepdims=True), 1e-12)  # F.normalize
    q = np.where(q[..., :1] < 0, -q, q)
    w, v = q[..., :1], q[..., 1:]
    sin_half = np.sqrt(np.maximum((v * v).sum(-1, keepdims=True), 1e-30))
    angle = 2 * np.arctan2(sin_half, w)
    small = sin_half < _SMALL
    scale = np.where(small, 2 / np.maximum(w, _SMALL),
                     angle / np.where(small, 1.0, sin_half))
    return v * scale


def rotation_about(axis, angle: float) -> np.ndarray:
    """3x3 rotation by ``angle`` radians about ``axis`` (any length)."""
    axis = np.asarray(axis, np.float64)
    return aa_to_mat(axis / np.linalg.norm(axis) * angle)


def slerp(Ra: np.ndarray, Rb: np.ndarray, w: float) -> np.ndarray:
    """Rotation a fraction ``w`` of the way from ``Ra`` to ``Rb`` (shortest arc)."""
    return Ra @ aa_to_mat(w * mat_to_aa(Ra.T @ Rb))
