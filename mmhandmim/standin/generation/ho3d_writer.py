"""Write an HO3D-v2-layout dataset rendered from the stand-in hand model (not MANO).

Layout (as HO3D v2 publishes it)::

    train/<SEQ>/rgb/<frame>.png        640x480, 4-digit frame names (0000.png)
    train/<SEQ>/meta/<frame>.pkl       handPose (48, flat_hand_mean=True), handBeta (10),
                                       handTrans (3),
                                       handJoints3D (21x3, HO3D order), camMat (3x3),
                                       objName, objLabel, objRot (3x1), objTrans (3),
                                       objCorners3DRest (8x3), objCorners3D (8x3)
    evaluation/<SEQ>/rgb/<frame>.png
    evaluation/<SEQ>/meta/<frame>.pkl  ONLY handBoundingBox ([x0, y0, x1, y1] px),
                                       handJoints3D (root joint, (3,)), camMat
    train.txt, evaluation.txt          lines <SEQ>/<frame>
    evaluation_xyz.json, evaluation_verts.json   the evaluation ground truth the way HO3D
                                       scores it: evaluation.txt order, HO3D order, OpenGL
    standin_info.json

Every 3D quantity is in HO3D's **OpenGL** camera frame (hand at negative z); project with
``camMat`` after flipping y and z. ``handPose`` is in real HO3D's MANO convention: the
official toolkit's ``forwardKinematics`` loads MANO with ``flat_hand_mean=True``, so the 45
finger values are absolute rotations (no ``hands_mean`` added) and ``handTrans`` is added
after posing about the rest-pose root joint. Scenes are generated in the OpenCV frame with
``flat_hand_mean=False`` and converted (:func:`scene.opencv_to_opengl_params`, then
``hands_mean`` added to the fingers); the stored vertices and joints are what the
``flat_hand_mean=True`` hand model gives for the stored OpenGL parameters, and the generator
checks that they equal the converted OpenCV ones (1e-5 m). A sequence is one static camera
and background, one subject (betas, skin) holding one object, with pose, orientation and
position interpolated smoothly between random key frames.
"""
import math
import os
import pickle
from typing import Dict, Optional

import cv2
import numpy as np
from tqdm import tqdm

from .backgrounds import camera_effects, random_background, sample_occluder
from .common import (HAND_MODEL_NOTE, JsonListWriter, hand_model_info, imwrite,
                     prepare_output_dir, round_params, sample_rng, torch_threads, write_info)
from ...structures import CV_TO_GL, mat_to_aa, project, rotation_about, slerp
from .scene import (StandinHands, composite_over, hand_box, merge_meshes, object_to_camera,
                    opencv_to_opengl_params, place_occluder, pose_scenes, render_rgba,
                    sample_finger_pose, sample_global_rotation, sample_light, sample_shape,
                    sample_skin_colors)

IMAGE_SIZE = (480, 640)
OWNED = ['train', 'evaluation', 'train.txt', 'evaluation.txt', 'evaluation_xyz.json',
         'evaluation_verts.json']
EVAL_META_KEYS = ('handBoundingBox', 'handJoints3D', 'camMat')
#: largest allowed |F v_cv - v_gl| between the rendered and the stored vertices (metres)
GL_TOLERANCE = 1e-5
PICKLE_PROTOCOL = 2   # HO3D's pickles are Python-2 era; loaders open them with latin1
KEY_SPACING = 12      # frames between random key poses of a sequence
#: the HO3D writer's own revision (standin_info.json 'writer_version'); 2: handPose stored
#: with flat_hand_mean=True, as real HO3D (1 stored it relative to hands_mean)
WRITER_VERSION = 2


def sequence_names(split: str, n: int):
    prefix = 'SA' if split == 'train' else 'SE'
    return [f'{prefix}{10 + k}' for k in range(n)]


def split_frames(total: int, num_seqs: int):
    """Frames per sequence: ``total`` spread over ``min(num_seqs, total)`` sequences."""
    num_seqs = max(1, min(num_seqs, total)) if total else 0
    return [total // num_seqs + (1 if k < total % num_seqs else 0) for k in range(num_seqs)]


def _smoothstep(x):
    return x * x * (3 - 2 * x)


def _sample_sequence(rng, hands, n_frames):
    """Static camera/background/subject/object and per-frame hand scenes of one sequence."""
    H, W = IMAGE_SIZE
    f = rng.uniform(605.0, 625.0)
    K = np.array([[f, 0.0, W / 2 + rng.normal(0, 4)], [0.0, f, H / 2 + rng.normal(0, 4)],
                  [0.0, 0.0, 1.0]])
    seq = {'K': K, 'background': random_background(rng, IMAGE_SIZE),
           'betas': sample_shape(rng), 'skin': sample_skin_colors(rng, hands),
           'light': sample_light(rng), 'occluder': sample_occluder(rng)}
    seq['R_obj'], seq['c_obj'] = place_occluder(rng, hands, seq['occluder'])
    n_key = max(2, int(math.ceil((n_frames - 1) / KEY_SPACING)) + 1)
    R = [sample_global_rotation(rng, palm_prob=0.65)[0]]
    for _ in range(n_key - 1):
        R.append(R[-1] @ rotation_about(rng.normal(size=3), rng.normal(0.0, 0.35)))
    fingers = [sample_finger_pose(rng, hands, curl=rng.uniform(0.3, 0.75))
               for _ in range(n_key)]
    # the hand centre wanders: normalised image position and depth, a clipped random walk
    pos = np.array([rng.uniform(-0.15, 0.15), rng.uniform(-0.1, 0.1), rng.uniform(0.4, 0.65)])
    centres = []
    for _ in range(n_key):
        centres.append(pos[2] * np.array([pos[0], pos[1], 1.0]))
        pos = np.clip(pos + rng.normal(0, [0.04, 0.03, 0.05]), [-0.2, -0.13, 0.4],
                      [0.2, 0.13, 0.65])
    frames = []
    for i in range(n_frames):
        tau = i / KEY_SPACING
        a = min(int(tau), n_key - 2)
        w = _smoothstep(tau - a)
        frames.append({'R': slerp(R[a], R[a + 1], w),
                       'finger_pose': (1 - w) * fingers[a] + w * fingers[a + 1],
                       'centre': (1 - w) * centres[a] + w * centres[a + 1],
                       'betas': seq['betas']})
    return seq, frames


def _posed_sequence(hands, seed, split, s, length):
    """Sequence ``s`` of ``split``: its static part, frames, OpenCV-frame parameters
    (flat_hand_mean=False) and vertices, and the rest-pose roots (a function of the seed)."""
    seq, frames = _sample_sequence(sample_rng(seed, f'ho3d/{split}', s), hands, length)
    params, verts_cv, _ = pose_scenes(hands, frames)
    return seq, frames, params, verts_cv, np.stack([fr['root'] for fr in frames])


def true_vertices(split: str, num_train: int = 32, num_eval: int = 16, num_seqs: int = 4,
                  seed: int = 0, hands: Optional[StandinHands] = None) -> np.ndarray:
    """(N, V, 3) the hand the generator renders for each line of ``<split>.txt`` (OpenCV
    camera frame, metres), for the same arguments as :func:`generate_ho3d`.

    Computed from the sampled scenes, not from any stored parameter, so tests can check a
    loader's or a model's reading of the stored MANO parameters against it.
    """
    hands = hands or StandinHands()
    n, ns = (num_train, num_seqs) if split == 'train' else (num_eval, max(1, num_seqs // 2))
    with torch_threads(1):
        verts = [_posed_sequence(hands, seed, split, s, length)[3]
                 for s, length in enumerate(split_frames(n, ns))]
    return (np.concatenate(verts).astype(np.float64) if verts
            else np.zeros((0, hands.num_vertices, 3)))


def to_opengl(hands: StandinHands, params: np.ndarray, roots: np.ndarray, verts_cv: np.ndarray,
              flat_hand_mean: bool = True):
    """OpenCV-frame parameters (B, 61; flat_hand_mean=False) -> the stored OpenGL ones (in the
    ``flat_hand_mean`` convention), and the vertices and HO3D keypoints the hand model of that
    convention gives for them; checks they equal the converted OpenCV vertices."""
    gl = params.astype(np.float64).copy()
    for b in range(len(gl)):
        gl[b, :3], gl[b, 58:] = opencv_to_opengl_params(gl[b, :3], gl[b, 58:], roots[b])
    if flat_hand_mean:  # the same hand with the fingers as absolute rotations
        gl[:, 3:48] += hands.hands_mean(True)
    gl = round_params(gl)
    verts, kpts = hands.forward(gl[:, :48], gl[:, 48:58], gl[:, 58:],
                                flat_hand_mean=flat_hand_mean)
    err = np.abs(verts_cv.astype(np.float64) @ CV_TO_GL - verts).max() if len(gl) else 0.0
    if err > GL_TOLERANCE:
        raise RuntimeError(f'OpenCV -> OpenGL conversion of the MANO parameters is off by '
                           f'{err:.2e} m (> {GL_TOLERANCE})')
    return gl, verts, kpts


def generate_ho3d(out_dir: str, num_train: int = 32, num_eval: int = 16, num_seqs: int = 4,
                  seed: int = 0, overwrite: bool = False, progress: bool = True,
                  antialias: int = 2, hands: Optional[StandinHands] = None,
                  flat_hand_mean: bool = True) -> Dict:
    """Generate the dataset under ``out_dir``; returns a summary (root, counts, files).

    ``flat_hand_mean=True`` (default) stores the finger pose as absolute rotations, the
    convention of real HO3D and of our HO3D configs; False (only to test that a wrong
    convention is caught): relative to ``hands_mean``, smplx's default. The images, joints
    and vertices are the same.

    ``num_seqs`` training sequences share ``num_train`` frames; the evaluation split has
    ``max(1, num_seqs // 2)`` sequences of its own.
    """
    if num_train < 0 or num_eval < 0 or num_seqs < 1:
        raise ValueError('need num_train >= 0, num_eval >= 0, num_seqs >= 1')
    root = prepare_output_dir(out_dir, OWNED, overwrite)
    hands = hands or StandinHands()
    counts = {}
    with torch_threads(1):
        for split, n, ns in (('train', num_train, num_seqs),
                             ('evaluation', num_eval, max(1, num_seqs // 2))):
            counts[split] = _write_split(root, split, n, ns, hands, seed, progress, antialias,
                                         flat_hand_mean)
    info = {
        'layout': 'HO3D v2',
        'writer_version': WRITER_VERSION,
        'seed': int(seed),
        'counts': counts,
        'image_size': list(IMAGE_SIZE[::-1]),
        'keypoint_order': 'ho3d',
        'camera_frame': 'OpenGL (+x right, +y up, hand at -z); project with camMat after '
                        'multiplying points by diag(1, -1, -1)',
        'evaluation_meta_keys': list(EVAL_META_KEYS),
        'mano': dict(hand_model_info(hands, flat_hand_mean), repose=(
            f"MANOLayer('standin', keypoint_order='ho3d', flat_hand_mean={flat_hand_mean})"
            "(handPose, handBeta, handTrans)['keypoints'] == handJoints3D (OpenGL frame, "
            f'HO3D order, within {GL_TOLERANCE} m)')),
    }
    info_path = write_info(root, info)
    return {'root': root, 'counts': counts, 'info': info_path,
            'note': f'HO3D-layout data from the {HAND_MODEL_NOTE}'}


def _write_split(root, split, n, num_seqs, hands, seed, progress, antialias, flat_hand_mean):
    key = f'ho3d/{split}'
    lengths = split_frames(n, num_seqs)
    names = sequence_names(split, len(lengths))
    lines = []
    gt = ({'xyz': JsonListWriter(os.path.join(root, 'evaluation_xyz.json')),
           'verts': JsonListWriter(os.path.join(root, 'evaluation_verts.json'))}
          if split == 'evaluation' else None)
    os.makedirs(os.path.join(root, split), exist_ok=True)
    bar = tqdm(total=n, desc=f'HO3D {split}', unit='frame', disable=not progress)
    for s, (name, length) in enumerate(zip(names, lengths)):
        seq, frames, params, verts_cv, roots = _posed_sequence(hands, seed, split, s, length)
        for sub in ('rgb', 'meta'):
            os.makedirs(os.path.join(root, split, name, sub), exist_ok=True)
        gl, verts_gl, kpts_gl = to_opengl(hands, params, roots, verts_cv, flat_hand_mean)
        occ = seq['occluder']
        for i, fr in enumerate(frames):
            frng = sample_rng(seed, key, s, 1 + i)
            K = seq['K']
            hand_cv = verts_gl[i].astype(np.float64) @ CV_TO_GL   # exactly the stored hand
            R_o, t_o = object_to_camera(fr['R'], fr['root'], params[i, 58:].astype(np.float64),
                                        seq['R_obj'], seq['c_obj'])
            obj_cv = occ['vertices'] @ R_o.T + t_o
            verts, faces, colors = merge_meshes([
                (hand_cv, hands.faces().numpy(), seq['skin']),
                (obj_cv, occ['faces'], occ['colors'])])
            rgb, alpha = render_rgba(verts, faces, colors, K, IMAGE_SIZE, seq['light'],
                                     antialias)
            img = camera_effects(frng, composite_over(rgb, alpha, seq['background']))
            frame = '%04d' % i
            imwrite(os.path.join(root, split, name, 'rgb', frame + '.png'), img,
                    [cv2.IMWRITE_PNG_COMPRESSION, 1])
            if split == 'train':
                meta = {
                    'handPose': gl[i, :48].astype(np.float64),
                    'handBeta': gl[i, 48:58].astype(np.float64),
                    'handTrans': gl[i, 58:].astype(np.float64),
                    'handJoints3D': kpts_gl[i].astype(np.float64),
                    'camMat': K.copy(),
                    'objName': occ['name'],
                    'objLabel': occ['label'],
                    'objRot': mat_to_aa(CV_TO_GL @ R_o).reshape(3, 1),
                    'objTrans': CV_TO_GL @ t_o,
                    'objCorners3DRest': occ['corners'].copy(),
                    'objCorners3D': (occ['corners'] @ R_o.T + t_o) @ CV_TO_GL,
                }
            else:
                box = hand_box(project(hand_cv, K), IMAGE_SIZE)
                meta = {'handBoundingBox': box,
                        'handJoints3D': kpts_gl[i, 0].astype(np.float64),
                        'camMat': K.copy()}
                gt['xyz'].append(kpts_gl[i])
                gt['verts'].append(verts_gl[i])
            with open(os.path.join(root, split, name, 'meta', frame + '.pkl'), 'wb') as f:
                pickle.dump(meta, f, protocol=PICKLE_PROTOCOL)
            lines.append(f'{name}/{frame}')
            bar.update(1)
    bar.close()
    if gt:
        for w in gt.values():
            w.close()
    with open(os.path.join(root, f'{split}.txt'), 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    return {'sequences': len(lengths), 'frames': n, 'sequence_names': names}
