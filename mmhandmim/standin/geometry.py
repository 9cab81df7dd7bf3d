"""Geometry of the procedural stand-in hand model (not MANO): a closed 778-vertex mesh.

Construction (right hand, metres, MANO's rest frame: fingers along -x, back of the hand +y,
thumb side +z, wrist near x = +0.1):

* palm: a tube of 12 rings x 32 vertices from the wrist cut to the knuckles. Its last ring *is*
  the four finger base rings (4 fingers x 8 vertices, side by side); three "web" quads close the
  gaps between neighbouring fingers.
* wrist: the first palm ring is capped by concentric rings of 16, 8, 4 vertices and a centre.
* thumb: three quads are removed from the radial-palmar corner of the palm, and the thumb tube
  starts from that 8-vertex hole.
* each digit: a tube of 9 more rings x 8 vertices along a polyline (MCP/CMC -> PIP/MCP ->
  DIP/IP -> tip) closed by one tip vertex. Rings sit in pairs 4 mm either side of each joint, so
  a joint regressed as the mean of its pair lies inside the digit.

Vertices: 12*32 + 29 + 5*73 = 778; faces (genus 0, closed): 2*778 - 4 = 1552.
Vertex order: palm rings, wrist cap, then digits in ``FINGERS`` order (thumb, index, middle,
ring, pinky), 73 vertices each, the tip last.
"""
from dataclasses import dataclass
from typing import Dict, List

import numpy as np

from ..hand_model.keypoints import FINGERS, MANO16_FINGER_CHAINS

NUM_VERTICES = 778
RING = 8                  # vertices per digit ring
PALM_RING = 32            # vertices per palm ring (= 4 finger base rings)
PALM_RINGS = 12
CAP_RINGS = (16, 8, 4)    # wrist cap rings inside the first palm ring, then a centre vertex
DIGIT_RINGS = 9           # digit rings after the base ring (the base ring belongs to the palm)
DIGIT_VERTS = DIGIT_RINGS * RING + 1
JOINT_GAP = 0.004         # rings sit this far either side of a joint
DIGITS_START = PALM_RINGS * PALM_RING + sum(CAP_RINGS) + 1
#: tip vertex of each digit in FINGERS order: the last vertex of its block
TIP_IDS = tuple(DIGITS_START + DIGIT_VERTS * (k + 1) - 1 for k in range(len(FINGERS)))

# --- anatomy (right hand). Lengths are in metres; a middle finger of 8 cm. --------------------
WRIST_X = 0.106                                   # wrist cut
WRIST_ELLIPSE = dict(center_yz=(0.002, -0.004), half_z=0.027, half_y=0.0165)
PALM_T = np.array([0.0, 0.07, 0.14, 0.22, 0.48, 0.57, 0.65, 0.73, 0.80, 0.87, 0.935, 1.0])
THUMB_HOLE = dict(rings=(3, 4), cols=(29, 30, 31, 0))   # radial-palmar corner of the palm
FINGER_LAYOUT = {  # MCP position, direction, segment lengths (MCP-PIP, PIP-DIP, DIP-tip),
    #                (lateral, dorsal) radius at the MCP and before the tip, knuckle half-height
    'index': dict(mcp=(0.008, 0.004, 0.026), dir=(-1.0, 0.0, 0.03),
                  lengths=(0.036, 0.023, 0.021), r0=(0.0092, 0.0082), r1=(0.0073, 0.0062),
                  knuckle=0.0105),
    'middle': dict(mcp=(0.001, 0.005, 0.003), dir=(-1.0, 0.0, -0.10),
                   lengths=(0.032, 0.025, 0.023), r0=(0.0094, 0.0084), r1=(0.0074, 0.0063),
                   knuckle=0.0105),
    'ring': dict(mcp=(0.011, 0.003, -0.019), dir=(-1.0, 0.0, -0.22),
                 lengths=(0.030, 0.024, 0.022), r0=(0.0088, 0.0080), r1=(0.0070, 0.0060),
                 knuckle=0.0100),
    'pinky': dict(mcp=(0.025, 0.000, -0.038), dir=(-1.0, 0.0, -0.45),
                  lengths=(0.024, 0.018, 0.019), r0=(0.0078, 0.0072), r1=(0.0062, 0.0054),
                  knuckle=0.0092),
}
THUMB_LAYOUT = dict(dirs=((-0.62, -0.10, 0.78), (-0.80, -0.20, 0.56), (-0.88, -0.25, 0.40)),
                    lengths=(0.038, 0.031, 0.026), r0=(0.0120, 0.0110), r1=(0.0086, 0.0074),
                    nail_pronation=0.8)  # rad the thumb nail turns towards the radial side
E_Y = np.array([0.0, 1.0, 0.0])


@dataclass
class StandinMesh:
    """Rest mesh plus what rigging and shaping need, per vertex (right hand)."""
    vertices: np.ndarray        # (778, 3)
    faces: np.ndarray           # (1552, 3), outward
    digit: np.ndarray           # (778,) index into FINGERS, -1 for palm and wrist cap
    s: np.ndarray               # (778,) distance along the digit from its MCP/CMC (palm: nan)
    axis_point: np.ndarray      # (778, 3) centre of the vertex's ring (tips: the tip itself)
    joint_rings: List[np.ndarray]   # 16 vertex-id arrays, MANO joint order
    digit_points: np.ndarray    # (5, 4, 3) polyline: MCP/CMC, PIP/MCP, DIP/IP, tip
    digit_frames: np.ndarray    # (5, 3, 3, 3) per segment rows (along, lateral, dorsal)
    digit_base_ring: Dict[str, np.ndarray]   # palm vertex ids each digit starts from


def _unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def _frame(direction, dorsal_ref):
    """Rows (along, lateral, dorsal), right-handed; flexion is a rotation about 'lateral'."""
    d = _unit(direction)
    dors = _unit(dorsal_ref - np.dot(dorsal_ref, d) * d)
    return np.stack([d, np.cross(dors, d), dors])


def _ring(center, frame, r_lat, r_dors, angles, squircle=False):
    c, s = np.cos(angles), np.sin(angles)
    if squircle:  # flat-sided knuckle section
        c, s = np.sign(c) * np.abs(c) ** 0.5, np.sign(s) * np.abs(s) ** 0.5
    return center + (r_lat * c)[:, None] * frame[1] + (r_dors * s)[:, None] * frame[2]


def _digit_stations(lengths):
    """Ring positions along a digit: (segment, offset from the segment start) pairs."""
    l1, l2, l3 = lengths
    g = JOINT_GAP
    return [(0, g), (0, 0.5 * l1), (0, l1 - g), (1, g), (1, 0.5 * l2), (1, l2 - g),
            (2, g), (2, 0.5 * l3), (2, 0.85 * l3)]


def _tube_faces(ring_a, ring_b):
    """Quads (as triangles) between two rings of equal length with the same angular sense."""
    a, b = np.asarray(ring_a), np.asarray(ring_b)
    a1, b1 = np.roll(a, -1), np.roll(b, -1)
    return np.concatenate([np.stack([a, a1, b1], 1), np.stack([a, b1, b], 1)])


def _fan(ring, apex):
    r = np.asarray(ring)
    return np.stack([r, np.roll(r, -1), np.full_like(r, apex)], 1)


def _halving_strip(outer, inner):
    """Triangles between a ring of 2n and a ring of n vertices (inner i sits by outer 2i..2i+1)."""
    o, i = np.asarray(outer), np.asarray(inner)
    o0, o1, o2 = o[0::2], o[1::2], np.roll(o[0::2], -1)
    i1 = np.roll(i, -1)
    return np.concatenate([np.stack([o0, o1, i], 1), np.stack([o1, o2, i1], 1),
                           np.stack([o1, i1, i], 1)])


def check_closed_outward(vertices, faces) -> None:
    """Raise if the mesh is not closed, consistently wound and outward (a generator bug)."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys = directed[:, 0] * len(vertices) + directed[:, 1]
    back = directed[:, 1] * len(vertices) + directed[:, 0]
    if len(np.unique(keys)) != len(keys) or not np.isin(back, keys).all():
        raise RuntimeError('stand-in hand mesh is not closed with a consistent winding')
    if signed_volume(vertices, faces) <= 0:
        raise RuntimeError('stand-in hand mesh faces point inwards')


def signed_volume(vertices, faces):
    v = vertices[faces]
    return float(np.einsum('ij,ij->i', v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6)


def _palm(verts_out):
    """Palm ring vertex positions (12, 32, 3) from the wrist ellipse to the finger bases."""
    e = WRIST_ELLIPSE
    phi = np.pi * (np.arange(PALM_RING) + 0.5) / (PALM_RING // 2)
    wrist = np.stack([np.full(PALM_RING, WRIST_X),
                      e['center_yz'][0] + e['half_y'] * np.sin(phi),
                      e['center_yz'][1] + e['half_z'] * np.cos(phi)], 1)
    knuckles = np.zeros((PALM_RING, 3))
    half = RING // 2
    for i, name in enumerate(('index', 'middle', 'ring', 'pinky')):
        base = verts_out[name]
        knuckles[half * i:half * (i + 1)] = base[:half]                   # top row, +z -> -z
        knuckles[28 - half * i:32 - half * i] = base[half:]               # bottom row, -z -> +z
    t = PALM_T[:, None, None]
    w = 1 - (1 - t) ** 2          # the palm widens quickly after the wrist
    rings = np.empty((PALM_RINGS, PALM_RING, 3))
    rings[..., 0] = ((1 - t) * wrist[None, :, :1] + t * knuckles[None, :, :1])[..., 0]
    rings[..., 1:] = (1 - w) * wrist[None, :, 1:] + w * knuckles[None, :, 1:]
    # palmar fullness (bottom row) and a slight dorsal arch, zero at both ends
    bump = np.sin(np.pi * PALM_T)[:, None]
    bottom = np.arange(PALM_RING) >= PALM_RING // 2
    rings[:, bottom, 1] -= 0.0035 * bump
    rings[:, ~bottom, 1] += 0.0015 * bump
    return rings


def build_standin_mesh() -> StandinMesh:
    """Build the right-hand stand-in mesh (deterministic, no randomness)."""
    angles = np.pi * (np.arange(RING) + 0.5) / (RING // 2)
    verts = np.zeros((NUM_VERTICES, 3))
    digit = np.full(NUM_VERTICES, -1)
    s_along = np.full(NUM_VERTICES, np.nan)
    axis_point = np.zeros((NUM_VERTICES, 3))
    faces: List[np.ndarray] = []
    digit_points = np.zeros((len(FINGERS), 4, 3))
    digit_frames = np.zeros((len(FINGERS), 3, 3, 3))
    base_rings: Dict[str, np.ndarray] = {}
    joint_rings: Dict[int, np.ndarray] = {}

    # finger base (knuckle) rings first: the palm's last ring is made of them
    base_pos = {}
    for name, lay in FINGER_LAYOUT.items():
        fr = _frame(lay['dir'], E_Y)
        center = np.asarray(lay['mcp']) - JOINT_GAP * fr[0]
        base_pos[name] = _ring(center, fr, lay['r0'][0], lay['knuckle'], angles, squircle=True)

    palm = _palm(base_pos)
    palm_ids = np.arange(PALM_RINGS * PALM_RING).reshape(PALM_RINGS, PALM_RING)
    verts[palm_ids] = palm
    axis_point[palm_ids] = palm.mean(1, keepdims=True)
    hole_r, hole_c = THUMB_HOLE['rings'], THUMB_HOLE['cols']
    hole_quads = {(hole_r[0], c) for c in hole_c[:-1]}
    for r in range(PALM_RINGS - 1):
        quads = _tube_faces(palm_ids[r], palm_ids[r + 1])
        keep = np.array([(r, c) not in hole_quads for c in range(PALM_RING)] * 2)
        faces.append(quads[keep])
    half = RING // 2
    for i, name in enumerate(('index', 'middle', 'ring', 'pinky')):
        top = palm_ids[-1, half * i:half * (i + 1)]
        bottom = palm_ids[-1, 28 - half * i:32 - half * i]
        base_rings[name] = np.concatenate([top, bottom])
    for i in range(3):  # web between finger i (towards +z) and finger i + 1
        a, b = palm_ids[-1, half * i + half - 1], palm_ids[-1, half * (i + 1)]
        c, d = palm_ids[-1, 27 - half * i], palm_ids[-1, 28 - half * i]
        faces.append(np.array([[a, b, c], [a, c, d]]))

    # wrist cap
    nxt = PALM_RINGS * PALM_RING
    outer = palm_ids[0]
    center = verts[outer].mean(0)
    for k, n in enumerate(CAP_RINGS):
        inner = np.arange(nxt, nxt + n)
        pair_mid = 0.5 * (verts[outer[0::2]] + verts[outer[1::2]])
        scale = (0.68, 0.62, 0.55)[k]
        verts[inner] = center + scale * (pair_mid - center)
        verts[inner, 0] = WRIST_X + 0.002 * (k + 1)
        faces.append(_halving_strip(outer, inner)[:, ::-1])  # seen from outside the cut
        outer, nxt = inner, nxt + n
    verts[nxt] = center + np.array([0.0075, 0.0, 0.0])  # a gently domed cut
    faces.append(_fan(outer, nxt)[:, ::-1])
    cap_ids = np.arange(PALM_RINGS * PALM_RING, nxt + 1)
    axis_point[cap_ids] = center
    joint_rings[0] = palm_ids[1:3].ravel()   # wrist joint: mean of two rings past the cut

    # digits
    for k, name in enumerate(FINGERS):
        start = DIGITS_START + k * DIGIT_VERTS
        ids = np.arange(start, start + DIGIT_RINGS * RING).reshape(DIGIT_RINGS, RING)
        tip = start + DIGIT_RINGS * RING
        if name == 'thumb':
            lengths, r0, r1 = THUMB_LAYOUT['lengths'], THUMB_LAYOUT['r0'], THUMB_LAYOUT['r1']
            base_ring = np.concatenate([palm_ids[hole_r[0], list(hole_c)],
                                        palm_ids[hole_r[1], list(hole_c)][::-1]])
            origin = verts[base_ring].mean(0)
            d1 = _unit(THUMB_LAYOUT['dirs'][0])
            radial = _unit(np.cross(E_Y, d1))
            p = THUMB_LAYOUT['nail_pronation']
            nail = np.cos(p) * _unit(E_Y - np.dot(E_Y, d1) * d1) + np.sin(p) * radial
            frames = np.stack([_frame(d, nail) for d in THUMB_LAYOUT['dirs']])
        else:
            lay = FINGER_LAYOUT[name]
            lengths, r0, r1 = lay['lengths'], lay['r0'], lay['r1']
            base_ring = base_rings[name]
            origin = np.asarray(lay['mcp'], dtype=np.float64)
            frames = np.stack([_frame(lay['dir'], E_Y)] * 3)
        base_rings[name] = base_ring
        pts = [origin]
        for seg in range(3):
            pts.append(pts[-1] + lengths[seg] * frames[seg, 0])
        digit_points[k], digit_frames[k] = np.stack(pts), frames
        seg_start = np.concatenate([[0.0], np.cumsum(lengths)])
        total = seg_start[-1]

        # ring angles: the thumb starts from the hole's own angular layout, then evens out
        ring_angles = [angles] * DIGIT_RINGS
        if name == 'thumb':
            rel = verts[base_ring] - origin
            theta = np.unwrap(np.arctan2(rel @ frames[0, 2], rel @ frames[0, 1]))
            sense = np.sign(theta[-1] - theta[0])
            uniform = sense * angles
            offset = np.angle(np.exp(1j * (theta - uniform)).mean())
            uniform = uniform + offset
            theta = uniform + np.angle(np.exp(1j * (theta - uniform)))
            ring_angles = [theta, 0.5 * (theta + uniform)] + [uniform] * (DIGIT_RINGS - 2)
        taper_end = seg_start[2] + 0.5 * lengths[2]   # radius goes from r0 to r1 up to here
        for ri, (seg, off) in enumerate(_digit_stations(lengths)):
            c = pts[seg] + off * frames[seg, 0]
            s_val = seg_start[seg] + off
            frac = min(s_val / taper_end, 1.0)
            rl, rd = (1 - frac) * np.asarray(r0) + frac * np.asarray(r1)
            if min(off, lengths[seg] - off) <= JOINT_GAP + 1e-12 and s_val < taper_end:
                rl, rd = 1.06 * rl, 1.06 * rd          # knuckles are a little thicker
            if ri == DIGIT_RINGS - 1:
                rl, rd = 0.62 * rl, 0.62 * rd          # rounds the fingertip
            if name == 'thumb' and ri == 0:   # first thumb ring: the hole's outline, shrunk
                rel = verts[base_ring] - origin
                rad = 0.8 * np.hypot(rel @ frames[0, 1], rel @ frames[0, 2])
                verts[ids[ri]] = _ring(c, frames[0], rad, rad, ring_angles[ri])
            else:
                verts[ids[ri]] = _ring(c, frames[seg], rl, rd, ring_angles[ri])
            s_along[ids[ri]] = s_val
            axis_point[ids[ri]] = c
        verts[tip] = pts[3]
        s_along[tip], axis_point[tip] = total, pts[3]
        digit[start:tip + 1] = k
        s_along[base_ring] = -JOINT_GAP
        faces.append(_tube_faces(base_ring, ids[0]))
        for ri in range(DIGIT_RINGS - 1):
            faces.append(_tube_faces(ids[ri], ids[ri + 1]))
        faces.append(_fan(ids[-1], tip))

        # joints: MCP/CMC from the base ring + first ring, then the ring pairs at PIP and DIP
        chain = MANO16_FINGER_CHAINS[name]
        joint_rings[chain[0]] = np.concatenate([base_ring, ids[0]])
        joint_rings[chain[1]] = ids[2:4].ravel()
        joint_rings[chain[2]] = ids[5:7].ravel()

    faces = np.ascontiguousarray(np.concatenate(faces), dtype=np.int64)
    check_closed_outward(verts, faces)
    return StandinMesh(vertices=verts, faces=faces, digit=digit, s=s_along,
                       axis_point=axis_point,
                       joint_rings=[joint_rings[j] for j in range(16)],
                       digit_points=digit_points, digit_frames=digit_frames,
                       digit_base_ring=base_rings)
