"""Scene sampling and rendering for the stand-in datasets: hand pose and shape, global
orientation, camera, light and skin, with the stand-in hand model (not MANO).

Frames and conventions
----------------------
* Everything is generated in the OpenCV camera frame (+x right, +y down, +z forward) and
  projected with ``u = K x / z`` (pixel centres at +0.5, as the rasteriser uses).
* Scenes are posed with smplx's default ``flat_hand_mean=False``: the 45 finger values
  are rotations *relative to* ``hands_mean`` (``sample_hand_pose`` gives absolute rotations,
  so ``hands_mean`` is subtracted); FreiHAND stores them so. The HO3D writer stores the
  absolute rotations (``flat_hand_mean=True``, real HO3D's convention). ``pose[:3]`` is the
  global orientation, applied about the rest-pose root joint ``J0`` (which depends on the
  betas); ``trans`` is added afterwards.
* The stand-in's rest hand (like MANO's right hand) points its fingers along -x (left hand:
  +x), its palm faces -y and the thumb sits on the +z side.
* HO3D stores the OpenGL frame: with ``F = diag(1, -1, -1)`` (a rotation by pi about x),
  points map as ``x' = F x``, the global orientation as ``R' = F R`` and the translation as
  ``t' = F (J0 + t) - J0`` (:func:`opencv_to_opengl_params`).
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch

from mmhandmim.structures import CV_TO_GL, mat_to_aa, project, rotate_posed_hand, rotation_about
from mmhandmim.visualization import render_layers

#: hand-model batch size (fixed, see ``StandinHands.forward``)
FORWARD_BATCH = 32

#: skin tones, RGB in [0, 1], from very light to very dark
SKIN_TONES = np.array([
    [0.98, 0.84, 0.74],
    [0.94, 0.77, 0.65],
    [0.87, 0.67, 0.54],
    [0.77, 0.56, 0.42],
    [0.64, 0.45, 0.32],
    [0.50, 0.33, 0.23],
    [0.36, 0.24, 0.16],
])
_PALM_TINT = np.array([0.93, 0.74, 0.64])
_NAIL_TINT = np.array([0.97, 0.80, 0.78])


# ----------------------------------------------------------------------------------------
class StandinHands:
    """The stand-in hand model (not MANO) for both sides, with numpy in and out.

    Layers return keypoints in HO3D order (16 joints then 5 tips); fingertips are the
    stand-in's own vertex ids.
    """

    def __init__(self, model_path: str = 'standin'):
        self.model_path = model_path
        self._layers = {}
        self._geometry = {}

    def layer(self, is_rhand: bool = True, flat_hand_mean: bool = False):
        """The hand model of one side; ``flat_hand_mean=True``: the layer that reads finger
        poses as absolute rotations (HO3D's convention)."""
        is_rhand = bool(is_rhand)
        key = (is_rhand, 'flat') if flat_hand_mean else is_rhand
        if key not in self._layers:
            from mmhandmim.hand_model import MANOLayer
            self._layers[key] = MANOLayer(self.model_path, is_rhand=is_rhand,
                                          keypoint_order='ho3d',
                                          flat_hand_mean=bool(flat_hand_mean))
        return self._layers[key]

    @property
    def num_vertices(self) -> int:
        return self.layer(True).num_vertices

    @property
    def fingertip_ids(self) -> Tuple[int, ...]:
        return self.layer(True).fingertip_ids

    def faces(self, is_rhand: bool = True) -> torch.Tensor:
        return self.layer(is_rhand).faces

    def hands_mean(self, is_rhand: bool = True) -> np.ndarray:
        """(45,) the finger-pose offset that ``flat_hand_mean=False`` adds."""
        return self.layer(is_rhand).pose_mean[3:].numpy().astype(np.float64)

    @torch.no_grad()
    def forward(self, pose, betas, transl=None, is_rhand: bool = True,
                flat_hand_mean: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """(B, 48) pose (in the ``flat_hand_mean`` convention; default False), (B, 10) betas,
        (B, 3) transl -> vertices (B, V, 3) and HO3D-order keypoints (B, 21, 3), float32.

        Runs in batches of exactly ``FORWARD_BATCH`` (the last one zero-padded): the BLAS
        kernels, hence the float32 rounding, depend on the batch size, so a fixed size makes
        every sample's result independent of how the samples are chunked.
        """
        layer = self.layer(is_rhand, flat_hand_mean)
        n = len(pose)
        pad = -n % FORWARD_BATCH
        arrays = []
        for a, width in ((pose, 48), (betas, 10), (transl, 3)):
            a = np.zeros((n, width)) if a is None else np.asarray(a)
            arrays.append(torch.as_tensor(np.concatenate(
                [a.reshape(n, width), np.zeros((pad, width))]).astype(np.float32)))
        verts, kpts = [], []
        for s in range(0, n + pad, FORWARD_BATCH):
            out = layer(*(a[s:s + FORWARD_BATCH] for a in arrays))
            verts.append(out['vertices'].numpy())
            kpts.append(out['keypoints'].numpy())
        if not verts:
            return (np.zeros((0, self.num_vertices, 3), np.float32),
                    np.zeros((0, 21, 3), np.float32))
        return np.concatenate(verts)[:n], np.concatenate(kpts)[:n]

    def geometry(self, is_rhand: bool = True) -> Dict[str, np.ndarray]:
        """Rest-shape vertices, vertex normals, palm-side weight, nail weight, palm centre."""
        is_rhand = bool(is_rhand)
        if is_rhand not in self._geometry:
            layer = self.layer(is_rhand)
            v = layer.v_template.numpy().astype(np.float64)
            f = layer.faces.numpy()
            tri = v[f]
            fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
            vn = np.zeros_like(v)
            for k in range(3):
                np.add.at(vn, f[:, k], fn)
            vn /= np.linalg.norm(vn, axis=1, keepdims=True).clip(1e-12)
            # the faces of one side are wound the other way round: orient normals outwards
            if np.mean(np.sum(vn * (v - v.mean(0)), 1)) < 0:
                vn = -vn
            joints = (layer.J_regressor.numpy().astype(np.float64) @ v)
            tips = v[list(layer.fingertip_ids)]
            dist = np.linalg.norm(v[:, None] - tips[None], axis=2).min(1)
            self._geometry[is_rhand] = {
                'vertices': v,
                'normals': vn,
                'palm_weight': np.clip(-vn[:, 1], 0, 1) ** 1.5,     # palm faces -y
                'nail_weight': (np.clip((0.012 - dist) / 0.004, 0, 1)
                                * np.clip((vn[:, 1] - 0.3) / 0.3, 0, 1)),
                'palm_centre': joints[[0, 1, 4, 7, 10]].mean(0),
                'root': joints[0],
            }
        return self._geometry[is_rhand]


# ----------------------------------------------------------------------------------------
# sampling
def sample_finger_pose(rng: np.random.Generator, hands: StandinHands, is_rhand: bool = True,
                       curl: Optional[float] = None) -> np.ndarray:
    """(45,) finger pose as stored (relative to hands_mean, flat_hand_mean=False)."""
    from ..pose import sample_hand_pose
    absolute = sample_hand_pose(1, rng, is_rhand=is_rhand, curl=curl)[0].astype(np.float64)
    return absolute - hands.hands_mean(is_rhand)


def sample_shape(rng: np.random.Generator, scale: float = 1.0) -> np.ndarray:
    from ..pose import sample_betas
    return sample_betas(1, rng, scale=scale)[0].astype(np.float64)


def sample_global_rotation(rng: np.random.Generator, is_rhand: bool = True,
                           palm_prob: float = 0.5, roll_std_deg: float = 50.0,
                           uniform_roll_prob: float = 0.3, tilt_std_deg: float = 32.0,
                           tilt_max_deg: float = 80.0) -> Tuple[np.ndarray, bool]:
    """Global orientation (3x3, OpenCV camera frame) and whether the palm faces the camera.

    The palm (or the back of the hand) faces the camera, the fingers point up in the image
    turned by a random roll (mostly near upright, sometimes any angle), then the hand tilts
    about a random in-image axis (side views at large tilts).
    """
    f_can = np.array([-1.0 if is_rhand else 1.0, 0.0, 0.0])   # fingers, rest pose
    n_can = np.array([0.0, -1.0, 0.0])                          # palm normal, rest pose
    palm = bool(rng.random() < palm_prob)
    n_cam = np.array([0.0, 0.0, -1.0 if palm else 1.0])         # towards / away from camera
    if rng.random() < uniform_roll_prob:
        roll = rng.uniform(-math.pi, math.pi)
    else:
        roll = rng.normal(0.0, math.radians(roll_std_deg))
    f_cam = np.array([math.sin(roll), -math.cos(roll), 0.0])
    m_can = np.stack([f_can, n_can, np.cross(f_can, n_can)], 1)
    m_cam = np.stack([f_cam, n_cam, np.cross(f_cam, n_cam)], 1)
    phi = rng.uniform(0, 2 * math.pi)
    tilt = min(abs(rng.normal(0.0, math.radians(tilt_std_deg))), math.radians(tilt_max_deg))
    R = rotation_about([math.cos(phi), math.sin(phi), 0.0], tilt) @ m_cam @ m_can.T
    return R, palm


def sample_light(rng: np.random.Generator) -> Dict:
    """Light direction (towards the light, camera frame), ambient and diffuse weights."""
    d = np.array([rng.uniform(-0.9, 0.9), rng.uniform(-1.0, 0.5), -1.0])
    ambient = rng.uniform(0.28, 0.55)
    return {'light_dir': tuple(float(x) for x in d / np.linalg.norm(d)),
            'ambient': float(ambient),
            'diffuse': float(rng.uniform(0.85, 1.1) * (1.0 - ambient))}


def sample_skin_colors(rng: np.random.Generator, hands: StandinHands,
                       is_rhand: bool = True) -> np.ndarray:
    """(V, 3) RGB per-vertex skin: a tone from the palette, lighter palm, nails,
    low-frequency blotches and per-vertex noise."""
    g = hands.geometry(is_rhand)
    v = g['vertices']
    t = rng.uniform(0, len(SKIN_TONES) - 1)
    k = min(int(t), len(SKIN_TONES) - 2)
    tone = SKIN_TONES[k] + (t - k) * (SKIN_TONES[k + 1] - SKIN_TONES[k])
    tone = tone * rng.uniform(0.94, 1.06, 3) ** 0.5
    darkness = 1.0 - tone.mean()
    palm = tone + (0.25 + 0.45 * darkness) * (_PALM_TINT - tone)
    nail = tone + 0.3 * (_NAIL_TINT - tone)
    col = tone[None] + g['palm_weight'][:, None] * (palm - tone)[None]
    col = col + 0.6 * g['nail_weight'][:, None] * (nail - col)
    # low-frequency variation: a few random plane waves over the rest shape
    waves = np.zeros(len(v))
    for _ in range(4):
        w = rng.normal(size=3)
        w *= rng.uniform(40, 120) / np.linalg.norm(w)
        waves += rng.uniform(0.01, 0.03) * np.sin(v @ w + rng.uniform(0, 2 * math.pi))
    redness = rng.uniform(0.0, 0.04) * np.sin(v @ (rng.normal(size=3) * 60.0))
    col = col * (1.0 + waves)[:, None]
    col = col + redness[:, None] * np.array([1.0, -0.5, -0.5])
    col = col * (1.0 + rng.normal(0, 0.012, size=(len(v), 1))) \
        + rng.normal(0, 0.006, size=(len(v), 3))
    return np.clip(col, 0, 1).astype(np.float32)


# ----------------------------------------------------------------------------------------
# cameras
def crop_intrinsics(verts: np.ndarray, size: int, fill: float,
                    shift: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """K of a ``size`` x ``size`` crop in which the hand's projected bounding box spans
    ``fill`` of the longer side, centred at the crop centre + ``shift`` pixels."""
    xn = verts[:, 0] / verts[:, 2]
    yn = verts[:, 1] / verts[:, 2]
    lo = np.array([xn.min(), yn.min()])
    hi = np.array([xn.max(), yn.max()])
    f = fill * size / max(float((hi - lo).max()), 1e-6)
    c = size / 2.0 - f * (lo + hi) / 2.0 + np.asarray(shift, np.float64)
    return np.array([[f, 0.0, c[0]], [0.0, f, c[1]], [0.0, 0.0, 1.0]])


def opencv_to_opengl_params(global_orient: np.ndarray, transl: np.ndarray,
                            root: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Global orientation (axis-angle, (3,)) and translation of the same posed hand in the
    OpenGL frame; ``root`` is the rest-pose root joint J0 for the hand's betas."""
    root = np.asarray(root, np.float64)
    moved = rotate_posed_hand(CV_TO_GL, root + transl, mano_pose=np.asarray(global_orient),
                              mano_trans=np.asarray(transl))
    return moved['mano_pose'], moved['mano_trans']


# ----------------------------------------------------------------------------------------
# rendering
def render_rgba(verts: np.ndarray, faces: torch.Tensor, colors: np.ndarray, K: np.ndarray,
                size_hw: Tuple[int, int], light: Dict, antialias: int = 2,
                pad: int = 3) -> Tuple[np.ndarray, np.ndarray]:
    """Render a mesh (camera frame) -> (RGB float32 (H, W, 3) in [0, 1], alpha (H, W)).

    Only the mesh's bounding box (+``pad``) is rasterised (K shifted accordingly), so a small
    hand in a 640x480 frame costs what a crop costs.
    """
    H, W = size_hw
    rgb = np.zeros((H, W, 3), np.float32)
    alpha = np.zeros((H, W), np.float32)
    uv = project(verts, K)
    x0, y0 = (max(int(math.floor(uv[:, i].min())) - pad, 0) for i in (0, 1))
    x1 = min(int(math.ceil(uv[:, 0].max())) + pad, W)
    y1 = min(int(math.ceil(uv[:, 1].max())) + pad, H)
    if x1 <= x0 or y1 <= y0:
        return rgb, alpha
    Kr = np.array(K, np.float64)
    Kr[0, 2] -= x0
    Kr[1, 2] -= y0
    layers = render_layers(torch.from_numpy(np.ascontiguousarray(verts, np.float32)), faces,
                           torch.from_numpy(Kr), (y1 - y0, x1 - x0),
                           color=torch.from_numpy(np.ascontiguousarray(colors, np.float32)),
                           light_dir=light['light_dir'], ambient=light['ambient'],
                           diffuse=light['diffuse'], shading='smooth', antialias=antialias)
    rgb[y0:y1, x0:x1] = layers.color.numpy()
    alpha[y0:y1, x0:x1] = layers.alpha.numpy()
    return rgb, alpha


def composite_over(rgb: np.ndarray, alpha: np.ndarray, background: np.ndarray,
                   gain: Optional[np.ndarray] = None) -> np.ndarray:
    """Blend a rendered RGB float layer (times an optional per-channel ``gain``) over a BGR
    uint8 background -> BGR uint8."""
    fg = rgb[..., ::-1] * 255.0
    if gain is not None:
        fg = fg * np.asarray(gain, np.float32)[::-1]
    a = alpha[..., None]
    out = fg * a + background.astype(np.float32) * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def hand_box(uv: np.ndarray, size_hw: Tuple[int, int]) -> np.ndarray:
    """[x0, y0, x1, y1] of projected points, clipped to the image."""
    H, W = size_hw
    return np.array([np.clip(uv[:, 0].min(), 0, W), np.clip(uv[:, 1].min(), 0, H),
                     np.clip(uv[:, 0].max(), 0, W), np.clip(uv[:, 1].max(), 0, H)])


# ----------------------------------------------------------------------------------------
# one hand in front of the camera
def sample_hand_scene(rng: np.random.Generator, hands: StandinHands, is_rhand: bool = True,
                      depth_range: Tuple[float, float] = (0.4, 0.8), lateral: float = 0.03,
                      curl: Optional[float] = None, palm_prob: float = 0.5) -> Dict:
    """Pose, shape, orientation, placement (the vertex centroid's camera-frame target),
    light and skin of one hand. ``lateral``: max |x/z|, |y/z| of the target."""
    finger = sample_finger_pose(rng, hands, is_rhand, curl)
    betas = sample_shape(rng)
    R, palm = sample_global_rotation(rng, is_rhand, palm_prob=palm_prob)
    depth = rng.uniform(*depth_range)
    centre = np.array([rng.uniform(-lateral, lateral) * depth,
                       rng.uniform(-lateral, lateral) * depth, depth])
    return {'is_rhand': bool(is_rhand), 'finger_pose': finger, 'betas': betas, 'R': R,
            'palm_facing': palm, 'centre': centre, 'light': sample_light(rng),
            'skin': sample_skin_colors(rng, hands, is_rhand)}


def pose_scenes(hands: StandinHands, scenes, is_rhand: bool = True):
    """Place every scene's hand (same side) so its vertex centroid sits at ``centre``.

    Returns the stored parameters (B, 61) = pose 48 + betas 10 + trans 3, float32 exactly
    as a reader gets them back from the files, and the vertices (B, V, 3) and HO3D-order
    keypoints (B, 21, 3) that the hand model gives for them (OpenCV frame). Also sets each
    scene's ``root`` (rest-pose root joint J0, for the OpenGL conversion).
    """
    if not scenes:
        return (np.zeros((0, 61), np.float32), *hands.forward(
            np.zeros((0, 48)), np.zeros((0, 10)), np.zeros((0, 3)), is_rhand))
    pose = np.stack([np.concatenate([mat_to_aa(s['R']), s['finger_pose']]) for s in scenes])
    betas = np.stack([s['betas'] for s in scenes])
    pose, betas = round_params(pose), round_params(betas)
    verts0, kpts0 = hands.forward(pose, betas, None, is_rhand)
    transl = np.stack([s['centre'] for s in scenes]) - verts0.astype(np.float64).mean(1)
    params = np.concatenate([pose, betas, round_params(transl)], 1)
    for s, root in zip(scenes, kpts0[:, 0].astype(np.float64)):
        s['root'] = root
    verts, kpts = hands.forward(params[:, :48], params[:, 48:58], params[:, 58:], is_rhand)
    return params, verts, kpts


def round_params(arr, decimals: int = 8) -> np.ndarray:
    from .common import round_params as _round
    return _round(arr, decimals)


# ----------------------------------------------------------------------------------------
# a held object
def place_occluder(rng: np.random.Generator, hands: StandinHands, occluder: Dict,
                   is_rhand: bool = True) -> Tuple[np.ndarray, np.ndarray]:
    """Pose (rotation, centre) of an object held against the palm, in the hand model's rest
    frame: on the palm side (-y), slightly towards the fingers, slightly turned."""
    g = hands.geometry(is_rhand)
    fingers = np.array([-1.0 if is_rhand else 1.0, 0.0, 0.0])
    gap = rng.uniform(0.008, 0.02)
    centre = (g['palm_centre'] + np.array([0.0, -1.0, 0.0]) * (occluder['contact'] + gap)
              + fingers * rng.uniform(0.0, 0.035) + np.array([0, 0, rng.uniform(-0.02, 0.02)]))
    axis = rng.normal(size=3)
    R = rotation_about(axis, rng.normal(0.0, 0.3))
    return R, centre


def object_to_camera(R_hand: np.ndarray, root: np.ndarray, transl: np.ndarray,
                     R_obj: np.ndarray, c_obj: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Object-to-camera rotation and translation for an object posed in the hand's rest
    frame (MANO maps rest points x to ``R (x - J0) + J0 + t``)."""
    return R_hand @ R_obj, R_hand @ (c_obj - root) + root + transl


def merge_meshes(parts):
    """[(verts, faces, colors), ...] -> one (verts, faces tensor, colors)."""
    verts, faces, colors, base = [], [], [], 0
    for v, f, c in parts:
        verts.append(np.asarray(v, np.float32))
        faces.append(torch.as_tensor(np.asarray(f)).long() + base)
        colors.append(np.asarray(c, np.float32))
        base += len(v)
    return np.concatenate(verts), torch.cat(faces), np.concatenate(colors)
