"""Write unlabeled hand crops for HandMIM pre-training, rendered from the stand-in hand model
(not MANO).

Layout::

    images/%08d.jpg      crops (224 x 224 by default) of right and left hands of varied pose,
                         shape, skin, size and position over cluttered backgrounds, some
                         holding an object
    list.txt             lines ``images/XXXXXXXX.jpg x0 y0 x1 y1 l|r``: the hand's box in
                         pixels and its side, as ``UnlabeledHandDataset`` reads them (paths
                         relative to the root; left hands are flipped by the data pipeline)
    standin_info.json

Left hands are rendered with the mirrored hand model (``is_rhand=False``), not by flipping
images.
"""
import os
from typing import Dict, Optional

import cv2
import numpy as np
from tqdm import tqdm

from .backgrounds import camera_effects, random_background, sample_occluder
from .common import (HAND_MODEL_NOTE, hand_model_info, imwrite, prepare_output_dir,
                     sample_rng, torch_threads, write_info)
from ...structures import project
from .scene import (StandinHands, composite_over, crop_intrinsics, hand_box, merge_meshes,
                    object_to_camera, place_occluder, pose_scenes, render_rgba,
                    sample_hand_scene)

OWNED = ['images', 'list.txt']


def _sample(rng, hands, img_size, left_prob, occluder_prob):
    is_rhand = not bool(rng.random() < left_prob)
    scene = sample_hand_scene(rng, hands, is_rhand=is_rhand)
    scene['fill'] = fill = rng.uniform(0.35, 0.85)
    room = 0.5 * (1.0 - fill) * img_size
    scene['shift'] = rng.uniform(-room, room, 2)
    if rng.random() < occluder_prob:
        occ = sample_occluder(rng)
        scene['occluder'] = occ
        scene['R_obj'], scene['c_obj'] = place_occluder(rng, hands, occ, is_rhand)
    return scene


def generate_unlabeled(out_dir: str, num: int = 64, seed: int = 0, img_size: int = 224,
                       left_prob: float = 0.4, occluder_prob: float = 0.3,
                       overwrite: bool = False, chunk_size: int = 64, progress: bool = True,
                       antialias: int = 2, hands: Optional[StandinHands] = None) -> Dict:
    """Generate ``num`` crops under ``out_dir``; returns a summary (root, counts, files)."""
    if num < 0 or img_size < 16:
        raise ValueError('need num >= 0 and img_size >= 16')
    root = prepare_output_dir(out_dir, OWNED, overwrite)
    hands = hands or StandinHands()
    img_dir = os.path.join(root, 'images')
    os.makedirs(img_dir, exist_ok=True)
    lines = []
    sides = {'r': 0, 'l': 0}
    bar = tqdm(total=num, desc='unlabeled', unit='image', disable=not progress)
    size = (img_size, img_size)
    with torch_threads(1):
        for start in range(0, num, chunk_size):
            ids = list(range(start, min(num, start + chunk_size)))
            rngs = [sample_rng(seed, 'unlabeled', i) for i in ids]
            scenes = [_sample(r, hands, img_size, left_prob, occluder_prob) for r in rngs]
            verts = [None] * len(ids)
            for is_rhand in (True, False):
                sel = [j for j, s in enumerate(scenes) if s['is_rhand'] == is_rhand]
                params, v, _ = pose_scenes(hands, [scenes[j] for j in sel], is_rhand)
                for k, j in enumerate(sel):
                    verts[j] = v[k]
                    scenes[j]['transl'] = params[k, 58:].astype(np.float64)
            for j, i in enumerate(ids):
                s, rng = scenes[j], rngs[j]
                hv = verts[j].astype(np.float64)
                K = crop_intrinsics(hv, img_size, s['fill'], s['shift'])
                parts = [(hv, hands.faces(s['is_rhand']).numpy(), s['skin'])]
                if 'occluder' in s:
                    occ = s['occluder']
                    R_o, t_o = object_to_camera(s['R'], s['root'], s['transl'], s['R_obj'],
                                                s['c_obj'])
                    parts.append((occ['vertices'] @ R_o.T + t_o, occ['faces'], occ['colors']))
                mv, mf, mc = merge_meshes(parts)
                rgb, alpha = render_rgba(mv, mf, mc, K, size, s['light'], antialias)
                img = composite_over(rgb, alpha, random_background(rng, size),
                                     rng.uniform(0.9, 1.1, 3))
                img = camera_effects(rng, img)
                name = 'images/%08d.jpg' % i
                imwrite(os.path.join(root, name), img,
                        [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(80, 96))])
                x0, y0, x1, y1 = hand_box(project(hv, K), size)
                side = 'r' if s['is_rhand'] else 'l'
                sides[side] += 1
                lines.append(f'{name} {x0:.1f} {y0:.1f} {x1:.1f} {y1:.1f} {side}')
                bar.update(1)
    bar.close()
    with open(os.path.join(root, 'list.txt'), 'w') as f:
        f.write(''.join(line + '\n' for line in lines))
    counts = {'images': num, 'right': sides['r'], 'left': sides['l']}
    info = {
        'layout': 'unlabeled hand crops: images/%08d.jpg + list.txt '
                  '("path x0 y0 x1 y1 l|r", box in pixels)',
        'seed': int(seed),
        'counts': counts,
        'image_size': [img_size, img_size],
        'left_prob': left_prob,
        'occluder_prob': occluder_prob,
        'mano': hand_model_info(hands),
    }
    info_path = write_info(root, info)
    return {'root': root, 'counts': counts, 'info': info_path,
            'note': f'unlabeled hand crops from the {HAND_MODEL_NOTE}'}
