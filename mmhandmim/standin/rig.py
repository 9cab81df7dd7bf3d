"""Skinning weights, joint regressor and shape blend shapes of the stand-in hand (not MANO)."""
import numpy as np
import scipy.sparse as sp

from ..hand_model.keypoints import FINGERS, MANO16_FINGER_CHAINS
from .geometry import NUM_VERTICES, StandinMesh

# Half-width (m) of the region over which skinning blends from a bone to the next one.
BLEND_HALF_WIDTH = (0.010, 0.009, 0.009)   # MCP/CMC, PIP/MCP, DIP/IP

#: meaning of each shape coefficient (1 unit = one standard deviation of a plausible hand)
SHAPE_COMPONENTS = (
    'overall size (5% per unit, about the wrist)',
    'finger length (6%)',
    'palm width (6%)',
    'palm thickness (8%)',
    'thumb length (7%)',
    'finger and thumb girth (8%)',
    'palm length (6%)',
    'index longer, ring shorter (5%)',
    'little finger length (8%)',
    'finger splay (fanning about the knuckles)',
)


def _smoothstep(u):
    r = np.clip((u + 1) / 2, 0, 1)
    return r * r * (3 - 2 * r)


def _digit_vertex_ids(mesh: StandinMesh, k: int, with_base: bool = True) -> np.ndarray:
    ids = np.flatnonzero(mesh.digit == k)
    return np.concatenate([mesh.digit_base_ring[FINGERS[k]], ids]) if with_base else ids


def skinning_weights(mesh: StandinMesh) -> np.ndarray:
    """(778, 16): palm/wrist on joint 0; each digit blends smoothly along its own chain only.

    A vertex at distance s along a digit gets ``w_k = smoothstep((s - s_k) / h_k)`` of bone k
    and the rest of the parent, so the weights telescope and sum to 1.
    """
    w = np.zeros((NUM_VERTICES, 16))
    w[:, 0] = 1.0
    for k, name in enumerate(FINGERS):
        ids = _digit_vertex_ids(mesh, k)
        s = mesh.s[ids]
        seg_len = np.linalg.norm(np.diff(mesh.digit_points[k], axis=0), axis=1)
        s_joint = np.concatenate([[0.0], np.cumsum(seg_len)[:2]])
        ramps = np.stack([_smoothstep((s - sj) / h) for sj, h in zip(s_joint, BLEND_HALF_WIDTH)]
                         + [np.zeros_like(s)], 1)
        w[ids, 0] = 1 - ramps[:, 0]
        w[ids[:, None], list(MANO16_FINGER_CHAINS[name])] = ramps[:, :3] - ramps[:, 1:]
    return w


def joint_regressor(mesh: StandinMesh) -> sp.csc_matrix:
    """16 x 778 sparse: each joint is the mean of the vertex rings around it."""
    rows = np.concatenate([np.full(len(r), j) for j, r in enumerate(mesh.joint_rings)])
    cols = np.concatenate(mesh.joint_rings)
    vals = np.concatenate([np.full(len(r), 1.0 / len(r)) for r in mesh.joint_rings])
    return sp.csc_matrix((vals, (rows, cols)), shape=(16, NUM_VERTICES))


def shape_blend_shapes(mesh: StandinMesh) -> np.ndarray:
    """(778, 3, 10) displacements per unit coefficient; see ``SHAPE_COMPONENTS``."""
    v = mesh.vertices
    dirs = np.zeros((NUM_VERTICES, 3, len(SHAPE_COMPONENTS)))
    palm = mesh.digit < 0
    wrist = v[mesh.joint_rings[0]].mean(0)
    palm_zc, wrist_x = -0.004, v[:, 0].max()
    dirs[:, :, 0] = 0.05 * (v - wrist)
    dirs[palm, 2, 2] = 0.06 * (v[palm, 2] - palm_zc)
    dirs[palm, 1, 3] = 0.08 * (v[palm, 1] - mesh.axis_point[palm, 1])
    dirs[palm, 0, 6] = 0.06 * (v[palm, 0] - wrist_x)
    for k, name in enumerate(FINGERS):
        ids = _digit_vertex_ids(mesh, k, with_base=False)
        base = mesh.digit_points[k, 0]
        base_ring = v[mesh.digit_base_ring[name]]
        along = mesh.axis_point[ids] - base          # scaling this scales the digit's length
        radial = v[ids] - mesh.axis_point[ids]
        # digits ride rigidly on the palm's width and length changes at their base
        dirs[ids, 2, 2] = 0.06 * (base_ring[:, 2].mean() - palm_zc)
        dirs[ids, 0, 6] = 0.06 * (base_ring[:, 0].mean() - wrist_x)
        dirs[ids, :, 5] = 0.08 * radial
        if name == 'thumb':
            dirs[ids, :, 4] = 0.07 * along
            continue
        dirs[ids, :, 1] = 0.06 * along
        dirs[ids, :, 7] = {'index': 0.05, 'ring': -0.05}.get(name, 0.0) * along
        dirs[ids, :, 8] = (0.08 if name == 'pinky' else 0.0) * along
        splay = {'index': 0.06, 'middle': 0.0, 'ring': -0.06, 'pinky': -0.12}[name]
        dirs[ids, :, 9] = splay * np.cross([0.0, 1.0, 0.0], v[ids] - base)
    return dirs
