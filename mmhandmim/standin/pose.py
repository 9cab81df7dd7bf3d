"""Joint axes, joint limits and pose/shape sampling for the stand-in hand model (not MANO).

Every finger joint has three rest-pose axes (world-aligned, as MANO's pose parameters are):
flexion (curls the digit towards the palm), abduction (sideways) and twist (about the bone).
A sampled joint rotation is ``flex * a_flex + abd * a_abd + twist * a_twist`` in axis-angle;
the three axes are orthonormal, so each component is also the projection on its axis and the
limits can be checked exactly.
"""
from functools import lru_cache
from typing import Optional, Union

import numpy as np

from ..hand_model.keypoints import FINGERS, MANO16_FINGER_CHAINS

NUM_BETAS = 10
#: (lo, hi) in radians per chain position (proximal, middle, distal) and axis (flex, abd, twist)
FINGER_LIMITS = np.array([
    [[-0.25, 1.45], [-0.30, 0.30], [-0.08, 0.08]],   # MCP
    [[0.00, 1.75], [-0.05, 0.05], [-0.05, 0.05]],    # PIP
    [[-0.05, 1.25], [-0.04, 0.04], [-0.04, 0.04]],   # DIP
])
THUMB_LIMITS = np.array([
    [[-0.35, 0.85], [-0.45, 0.75], [-0.25, 0.35]],   # CMC
    [[-0.15, 0.95], [-0.15, 0.15], [-0.10, 0.10]],   # MCP
    [[-0.30, 1.30], [-0.05, 0.05], [-0.05, 0.05]],   # IP
])
# sideways spread of each finger when the hand opens (sign: towards the thumb is +)
_SPREAD = {'index': 0.5, 'middle': 0.0, 'ring': -0.5, 'pinky': -1.0}


@lru_cache(maxsize=1)
def _axes_and_limits():
    from .geometry import build_standin_mesh
    frames = build_standin_mesh().digit_frames          # (5, 3 segments, rows along/lat/dors)
    axes = np.zeros((15, 3, 3))
    limits = np.zeros((15, 3, 2))
    for k, name in enumerate(FINGERS):
        for seg, joint in enumerate(MANO16_FINGER_CHAINS[name]):
            axes[joint - 1] = frames[k, seg][[1, 2, 0]]     # flex, abduction, twist
            limits[joint - 1] = (THUMB_LIMITS if name == 'thumb' else FINGER_LIMITS)[seg]
    axes.setflags(write=False)
    limits.setflags(write=False)
    return axes, limits


def joint_axes(is_rhand: bool = True) -> np.ndarray:
    """(15, 3, 3): per finger joint (MANO order 1..15) the flexion, abduction, twist axes.

    The left hand's axes are the mirror image: (x, y, z) -> (x, -y, -z), the way MANO's left
    pose parameters relate to the right ones.
    """
    axes = _axes_and_limits()[0]
    return axes.copy() if is_rhand else axes * np.array([1.0, -1.0, -1.0])


def joint_limits() -> np.ndarray:
    """(15, 3, 2): (lo, hi) radians for flexion, abduction, twist of each finger joint."""
    return _axes_and_limits()[1].copy()


def pose_components(hand_pose: np.ndarray, is_rhand: bool = True) -> np.ndarray:
    """(..., 45) axis-angle finger pose -> (..., 15, 3) flexion, abduction, twist angles."""
    aa = np.asarray(hand_pose, dtype=np.float64).reshape(*np.shape(hand_pose)[:-1], 15, 3)
    return np.einsum('...ji,jki->...jk', aa, joint_axes(is_rhand))


def _as_rng(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def sample_hand_pose(n: int, rng: Union[None, int, np.random.Generator] = None,
                     is_rhand: bool = True, curl: Optional[float] = None) -> np.ndarray:
    """Sample ``n`` plausible finger poses, (n, 45) float32 axis-angle, within joint limits.

    The values are absolute joint rotations, i.e. what a MANO layer with
    ``flat_hand_mean=True`` takes; subtract ``hands_mean`` for ``flat_hand_mean=False``.
    Fingers curl together (a shared grasp closure plus per-finger and per-joint variation),
    mostly by flexion with small abduction and twist; the thumb uses its own axes.
    ``curl`` in [0, 1] fixes the shared closure (None: drawn per sample).
    """
    rng = _as_rng(rng)
    limits = joint_limits()
    lo, hi = limits[..., 0], limits[..., 1]
    grasp = (rng.beta(1.6, 2.6, size=(n, 1)) if curl is None
             else np.full((n, 1), float(np.clip(curl, 0, 1))))
    finger_curl = np.clip(grasp + rng.normal(0, 0.18, size=(n, 5)), 0, 1)
    angles = np.zeros((n, 15, 3))
    for k, name in enumerate(FINGERS):
        joints = np.array(MANO16_FINGER_CHAINS[name]) - 1
        frac = np.clip(finger_curl[:, k:k + 1] + rng.normal(0, 0.10, size=(n, 3)), 0, 1)
        angles[:, joints, 0] = frac * hi[joints, 0] + rng.normal(0, 0.06, size=(n, 3))
        if name == 'thumb':   # opposition grows with the grasp
            angles[:, joints, 1] = (lo[joints, 1] + (hi[joints, 1] - lo[joints, 1]) * np.clip(
                finger_curl[:, k:k + 1] + rng.normal(0, 0.2, size=(n, 3)), 0, 1))
        else:                 # fingers spread when the hand opens
            spread = _SPREAD[name] * (1 - finger_curl[:, k]) * 0.25
            angles[:, joints[0], 1] = spread + rng.normal(0, 0.06, size=n)
            angles[:, joints[1:], 1] = rng.normal(0, 0.015, size=(n, 2))
        angles[:, joints, 2] = rng.normal(0, 0.3, size=(n, 3)) * hi[joints, 2]
    angles = np.clip(angles, lo, hi)
    pose = np.einsum('njk,jki->nji', angles, joint_axes(is_rhand))
    return pose.reshape(n, 45).astype(np.float32)


def sample_betas(n: int, rng: Union[None, int, np.random.Generator] = None,
                 scale: float = 1.0, clip: float = 3.0) -> np.ndarray:
    """(n, 10) float32 shape coefficients ~ N(0, scale^2), clipped to +-clip."""
    rng = _as_rng(rng)
    return np.clip(scale * rng.standard_normal((n, NUM_BETAS)), -clip, clip).astype(np.float32)


def pose_pca(num_samples: int = 20000, seed: int = 0):
    """Mean pose (45,) and orthonormal PCA basis (45, 45; rows, by decreasing variance) of the
    sampler's distribution, for ``hands_mean``/``hands_components`` (right hand)."""
    poses = sample_hand_pose(num_samples, np.random.default_rng(seed)).astype(np.float64)
    mean = poses.mean(0)
    var, vecs = np.linalg.eigh(np.cov(poses - mean, rowvar=False))
    comps = vecs[:, np.argsort(var)[::-1]].T
    # fix each component's sign so the basis is reproducible
    pivot = np.abs(comps).argmax(1)
    comps *= np.sign(comps[np.arange(45), pivot])[:, None]
    return mean, comps
