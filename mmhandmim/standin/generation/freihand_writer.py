"""Write a FreiHAND-v2-layout dataset rendered from the stand-in hand model (not MANO).

Layout (as ``FreiHAND_pub_v2`` publishes it)::

    training/rgb/%08d.jpg      N x versions images; image k belongs to frame k % N
    training/mask/%08d.jpg     N hand masks
    training_{K,mano,xyz,verts,scale}.json
    evaluation/rgb/%08d.jpg    M images
    evaluation_{K,mano,xyz,verts,scale}.json
    standin_info.json          seed, counts and the parameter conventions

``*_mano.json`` entries are 1 x 61 in the official toolbox's layout (``utils/model.py``:
``split_theta``, ``recover_root``, ``pose_by_root``): pose 48 (``flat_hand_mean=False``),
shape 10, ``uv_root`` 2 = keypoint 9 projected with K (pixels) and ``scale`` 1 =
focal / depth of keypoint 9 (focal = (fx + fy) / 2), so that ``recover_root`` gives keypoint
9 back; there is no metric translation in the file. ``*_xyz.json`` is 21 x 3 in FreiHAND order
and ``*_verts.json`` V x 3, metres, OpenCV camera frame; ``*_scale.json`` is the bone length
|xyz[9] - xyz[10]|. Each frame's hand is rendered once and
composited over ``versions`` backgrounds: version 0 a green screen (FreiHAND's original),
the others cluttered backgrounds with a colour variant of the hand.
"""
import os
from typing import Dict, Optional

import cv2
import numpy as np
from tqdm import tqdm

from mmhandmim.hand_model.keypoints import convert_keypoints
from mmhandmim.structures import project

from .backgrounds import camera_effects, green_screen, random_background
from .common import (HAND_MODEL_NOTE, JsonListWriter, hand_model_info, imwrite,
                     prepare_output_dir, sample_rng, torch_threads, write_info)
from .scene import (StandinHands, composite_over, crop_intrinsics, pose_scenes, render_rgba,
                    sample_hand_scene)

SPLITS = ('training', 'evaluation')
JSON_KEYS = ('K', 'mano', 'xyz', 'verts', 'scale')
OWNED = ['training', 'evaluation'] + [f'{s}_{k}.json' for s in SPLITS for k in JSON_KEYS]
#: the keypoint the official toolbox places the hand by (``pose_by_root(root_id=9)``)
TOOLBOX_ROOT = 9


def official_theta(params: np.ndarray, xyz: np.ndarray, K: np.ndarray) -> np.ndarray:
    """FreiHAND's 61-vector: pose 48 and shape 10 of ``params``, then ``uv_root`` (keypoint
    9 projected with K) and ``scale`` = focal / its depth, the inverse of the toolbox's
    ``recover_root``: ``((uv_root - pp) / scale, focal / scale)`` is keypoint 9 again."""
    root = np.asarray(xyz[TOOLBOX_ROOT], np.float64)
    focal = 0.5 * (K[0, 0] + K[1, 1])
    return np.concatenate([np.asarray(params[:58], np.float64), project(root, K),
                           [focal / root[2]]])


def _sample_frame(rng, hands, img_size):
    scene = sample_hand_scene(rng, hands, is_rhand=True)
    scene['fill'] = rng.uniform(0.6, 0.8)
    scene['shift'] = rng.normal(0.0, 0.02 * img_size, 2).clip(-0.05 * img_size,
                                                            0.05 * img_size)
    return scene


def _version_image(rng, rgb, alpha, version, img_size):
    size = (img_size, img_size)
    if version == 0:
        bg, gain = green_screen(rng, size), None
    else:
        bg = random_background(rng, size)
        gain = rng.uniform(0.88, 1.12, 3) * rng.uniform(0.85, 1.15)
    img = camera_effects(rng, composite_over(rgb, alpha, bg, gain))
    return img, int(rng.integers(80, 96))


def generate_freihand(out_dir: str, num_train: int = 32, num_eval: int = 16, seed: int = 0,
                      img_size: int = 224, versions: int = 4, overwrite: bool = False,
                      chunk_size: int = 64, progress: bool = True, antialias: int = 2,
                      hands: Optional[StandinHands] = None) -> Dict:
    """Generate the dataset under ``out_dir``; returns a summary (root, counts, files)."""
    if num_train < 0 or num_eval < 0 or versions < 1 or img_size < 16:
        raise ValueError('need num_train >= 0, num_eval >= 0, versions >= 1, img_size >= 16')
    root = prepare_output_dir(out_dir, OWNED, overwrite)
    hands = hands or StandinHands()
    counts = {}
    with torch_threads(1):
        for split, n in (('training', num_train), ('evaluation', num_eval)):
            counts[split] = _write_split(root, split, n, hands, seed, img_size,
                                         versions if split == 'training' else 1,
                                         chunk_size, progress, antialias)
    info = {
        'layout': 'FreiHAND v2 (FreiHAND_pub_v2)',
        'seed': int(seed),
        'counts': counts,
        'image_size': [img_size, img_size],
        'versions': int(versions),
        'version_meaning': 'image k belongs to frame k % N; version 0: green screen, '
                           '1..: cluttered backgrounds with a hand colour variant',
        'keypoint_order': 'freihand',
        'camera_frame': 'OpenCV (+x right, +y down, +z forward); u = K x / z',
        'mano': hand_model_info(hands),
        'mano_json_layout': 'per frame [[61]]: pose 48, shape 10, uv_root 2 (keypoint 9 '
                            'projected with K), scale 1 (focal / depth of keypoint 9); no '
                            'translation (official toolbox: split_theta, recover_root)',
    }
    info_path = write_info(root, info)
    return {'root': root, 'counts': counts, 'info': info_path,
            'note': f'FreiHAND-layout data from the {HAND_MODEL_NOTE}'}


def _write_split(root, split, n, hands, seed, img_size, nver, chunk_size, progress, antialias):
    rgb_dir = os.path.join(root, split, 'rgb')
    mask_dir = os.path.join(root, split, 'mask')
    os.makedirs(rgb_dir, exist_ok=True)
    if split == 'training':
        os.makedirs(mask_dir, exist_ok=True)
    writers = {k: JsonListWriter(os.path.join(root, f'{split}_{k}.json')) for k in JSON_KEYS}
    bar = tqdm(total=n, desc=f'FreiHAND {split}', unit='frame', disable=not progress)
    for start in range(0, n, chunk_size):
        ids = range(start, min(n, start + chunk_size))
        rngs = [sample_rng(seed, f'freihand/{split}', i) for i in ids]
        scenes = [_sample_frame(r, hands, img_size) for r in rngs]
        params, verts, kpts = pose_scenes(hands, scenes, is_rhand=True)
        xyz = convert_keypoints(kpts, 'ho3d', 'freihand')
        for j, i in enumerate(ids):
            s = scenes[j]
            K = crop_intrinsics(verts[j].astype(np.float64), img_size, s['fill'], s['shift'])
            rgb, alpha = render_rgba(verts[j], hands.faces(), s['skin'], K,
                                     (img_size, img_size), s['light'], antialias)
            for v in range(nver):
                vrng = sample_rng(seed, f'freihand/{split}', i, 1 + v)
                # evaluation images: real backgrounds in FreiHAND, so never the green screen
                img, quality = _version_image(vrng, rgb, alpha,
                                              v if split == 'training' else 1, img_size)
                imwrite(os.path.join(rgb_dir, '%08d.jpg' % (v * n + i)), img,
                        [cv2.IMWRITE_JPEG_QUALITY, quality])
            if split == 'training':
                mask = np.where(alpha >= 0.5, 255, 0).astype(np.uint8)
                imwrite(os.path.join(mask_dir, '%08d.jpg' % i), mask,
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            K = np.round(K, 6)  # as stored, so the file's uv_root agrees with its K
            writers['K'].append(K)
            writers['mano'].append(official_theta(params[j], xyz[j], K)[None])
            writers['xyz'].append(xyz[j])
            writers['verts'].append(verts[j])
            writers['scale'].append(float(np.linalg.norm(
                xyz[j, 9].astype(np.float64) - xyz[j, 10])))
            bar.update(1)
    bar.close()
    for w in writers.values():
        w.close()
    return {'frames': n, 'images': n * nver, 'masks': n if split == 'training' else 0}
