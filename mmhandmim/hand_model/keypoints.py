"""Keypoint orders, skeletons and fingertip vertex ids: the one place they are defined.

Three orders are used in the project:

* ``'mano16'``: MANO's 16 skinned joints (0 wrist; 1-3 index; 4-6 middle; 7-9 pinky;
  10-12 ring; 13-15 thumb), as ``smplx.MANO`` returns them.
* ``'ho3d'``: the 16 MANO joints, then the 5 fingertips (thumb, index, middle, ring, pinky).
* ``'freihand'``: 0 wrist, then per finger (thumb, index, middle, ring, pinky) the four points
  from the palm outwards (thumb: CMC, MCP, IP, tip; others: MCP, PIP, DIP, tip).

Fingertips are mesh vertices, not skinned joints; which vertex is "the tip" differs between the
datasets' own code, so the ids are a setting (see ``FINGERTIP_VERTEX_IDS``).
"""
from typing import Dict, Sequence, Tuple

import numpy as np

FINGERS = ('thumb', 'index', 'middle', 'ring', 'pinky')

MANO16_NAMES = (
    'wrist',
    'index_mcp', 'index_pip', 'index_dip',
    'middle_mcp', 'middle_pip', 'middle_dip',
    'pinky_mcp', 'pinky_pip', 'pinky_dip',
    'ring_mcp', 'ring_pip', 'ring_dip',
    'thumb_cmc', 'thumb_mcp', 'thumb_ip',
)
MANO16_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
#: MANO joints of each finger's chain, proximal to distal
MANO16_FINGER_CHAINS = {
    'thumb': (13, 14, 15),
    'index': (1, 2, 3),
    'middle': (4, 5, 6),
    'ring': (10, 11, 12),
    'pinky': (7, 8, 9),
}

TIP_NAMES = tuple(f'{f}_tip' for f in FINGERS)
HO3D_NAMES = MANO16_NAMES + TIP_NAMES
FREIHAND_NAMES = (
    'wrist',
    'thumb_cmc', 'thumb_mcp', 'thumb_ip', 'thumb_tip',
    'index_mcp', 'index_pip', 'index_dip', 'index_tip',
    'middle_mcp', 'middle_pip', 'middle_dip', 'middle_tip',
    'ring_mcp', 'ring_pip', 'ring_dip', 'ring_tip',
    'pinky_mcp', 'pinky_pip', 'pinky_dip', 'pinky_tip',
)

KEYPOINT_NAMES: Dict[str, Tuple[str, ...]] = {
    'mano16': MANO16_NAMES,
    'ho3d': HO3D_NAMES,
    'freihand': FREIHAND_NAMES,
}

#: ``x_freihand = x_ho3d[..., FREIHAND_FROM_HO3D, :]``
FREIHAND_FROM_HO3D = np.array(
    [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20], dtype=np.int64)
#: ``x_ho3d = x_freihand[..., HO3D_FROM_FREIHAND, :]``
HO3D_FROM_FREIHAND = np.array(
    [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20], dtype=np.int64)

#: Right-hand MANO fingertip vertex ids, ordered (thumb, index, middle, ring, pinky).
#: 'freihand' and 'ho3d' are what each dataset's own code uses; 'common' is what most method
#: code (manopth and descendants) uses. The choice moves tips by millimetres.
FINGERTIP_VERTEX_IDS: Dict[str, Tuple[int, ...]] = {
    'freihand': (744, 320, 443, 555, 672),
    'ho3d': (744, 333, 444, 555, 672),
    'common': (745, 317, 444, 556, 673),
}
#: which fingertip convention a keypoint order uses when none is given
DEFAULT_FINGERTIP_CONVENTION = {'freihand': 'freihand', 'ho3d': 'ho3d', 'mano16': 'freihand'}


def _links_from_parents(parents: Sequence[int]) -> Tuple[Tuple[int, int], ...]:
    return tuple((p, c) for c, p in enumerate(parents) if p >= 0)


def keypoint_parents(order: str) -> Tuple[int, ...]:
    """Parent of each keypoint in ``order`` (-1 for the wrist); tips hang off the last joint."""
    check_order(order)
    names = KEYPOINT_NAMES[order]
    parent_name = {n: MANO16_NAMES[p] for n, p in zip(MANO16_NAMES, MANO16_PARENTS) if p >= 0}
    parent_name.update({f'{f}_tip': MANO16_NAMES[MANO16_FINGER_CHAINS[f][-1]] for f in FINGERS})
    index = {n: i for i, n in enumerate(names)}
    return tuple(index[parent_name[n]] if n in parent_name else -1 for n in names)


def skeleton_links(order: str) -> Tuple[Tuple[int, int], ...]:
    """(parent, child) index pairs for drawing a skeleton in ``order``."""
    return _links_from_parents(keypoint_parents(order))


def check_order(order: str) -> str:
    if order not in KEYPOINT_NAMES:
        raise ValueError(f'Unknown keypoint order {order!r}; expected one of '
                         f'{sorted(KEYPOINT_NAMES)}.')
    return order


def conversion_index(src: str, dst: str) -> np.ndarray:
    """Indices ``idx`` such that ``x_dst = x_src[..., idx, :]``.

    Built from the name lists, so it agrees with them by construction; converting to a
    21-point order needs a 21-point source ('mano16' has no fingertips).
    """
    src_names, dst_names = KEYPOINT_NAMES[check_order(src)], KEYPOINT_NAMES[check_order(dst)]
    where = {n: i for i, n in enumerate(src_names)}
    missing = [n for n in dst_names if n not in where]
    if missing:
        raise ValueError(f'Cannot convert keypoints from {src!r} ({len(src_names)} points) to '
                         f'{dst!r}: the source lacks {missing}.')
    return np.array([where[n] for n in dst_names], dtype=np.int64)


def convert_keypoints(x, src: str, dst: str):
    """Reorder keypoints from order ``src`` to ``dst``; the keypoint axis is -2.

    Works on numpy arrays and torch tensors (any leading batch dimensions).
    """
    idx = conversion_index(src, dst)
    if x.shape[-2] != len(KEYPOINT_NAMES[src]):
        raise ValueError(f'Expected {len(KEYPOINT_NAMES[src])} keypoints in order {src!r} on '
                         f'axis -2, got shape {tuple(x.shape)}.')
    if isinstance(x, np.ndarray):
        return np.take(x, idx, axis=-2)
    import torch
    return x.index_select(-2, torch.as_tensor(idx, device=x.device))


def fingertip_ids(convention: str) -> Tuple[int, ...]:
    """Fingertip vertex ids (thumb, index, middle, ring, pinky) of a named MANO convention.

    (``MANOLayer(fingertip_ids='standin')`` takes the stand-in's tips from its model file.)
    """
    if convention not in FINGERTIP_VERTEX_IDS:
        raise ValueError(f'Unknown fingertip convention {convention!r}; expected one of '
                         f'{sorted(FINGERTIP_VERTEX_IDS)}.')
    return FINGERTIP_VERTEX_IDS[convention]

