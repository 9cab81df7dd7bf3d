"""Time the stand-in dataset generators and (optionally) draw a grid of generated samples.

Usage: python benchmarks/bench_generate.py [--num 16] [--out-dir DIR] [--grid PNG]

Generates a FreiHAND-layout set (``--num`` training frames x 4 versions + ``--num`` evaluation
frames), an HO3D-layout set (``--num`` training + ``--num`` evaluation frames) and ``--num``
unlabeled crops with the stand-in hand model (not MANO), and prints the wall time of each
(start-up and imports excluded, reported separately). ``--grid`` writes 8 FreiHAND training
images and 4 downscaled HO3D frames, 2D keypoints drawn on half of them.
"""
import argparse
import os
import pickle
import shutil
import sys
import tempfile
import time

T0 = time.perf_counter()
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import mmhandmim.compat  # noqa: E402,F401

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from mmhandmim.standin.generation import (StandinHands, generate_freihand,  # noqa: E402
                                           generate_ho3d, generate_unlabeled)
from mmhandmim.hand_model.keypoints import skeleton_links  # noqa: E402
from mmhandmim.visualization import draw_keypoints, make_grid  # noqa: E402


def _project(K, X):
    p = np.asarray(X) @ np.asarray(K).T
    return p[:, :2] / p[:, 2:]


def draw_grid(fh_root, ho_root, path):
    import json
    with open(os.path.join(fh_root, 'training_K.json')) as f:
        Ks = json.load(f)
    with open(os.path.join(fh_root, 'training_xyz.json')) as f:
        xyz = json.load(f)
    n = len(Ks)
    top = []
    for k in range(8):
        idx = k if k < 4 else (k - 4) + n * ((k - 4) % 4)      # frames 0-3, other versions
        img = cv2.imread(os.path.join(fh_root, 'training', 'rgb', '%08d.jpg' % idx))
        if k >= 4:
            img = draw_keypoints(img, _project(Ks[idx % n], xyz[idx % n]),
                                 skeleton_links('freihand'), radius=2, thickness=1)
        top.append(img)
    with open(os.path.join(ho_root, 'train.txt')) as f:
        lines = [line.strip() for line in f]
    picks = [lines[int(i)] for i in np.linspace(0, len(lines) - 1, 4)]
    bottom = []
    for k, line in enumerate(picks):
        seq, frame = line.split('/')
        img = cv2.imread(os.path.join(ho_root, 'train', seq, 'rgb', frame + '.png'))
        with open(os.path.join(ho_root, 'train', seq, 'meta', frame + '.pkl'), 'rb') as f:
            meta = pickle.load(f, encoding='latin1')
        if k >= 2:
            uv = _project(meta['camMat'], meta['handJoints3D'] * [1, -1, -1])
            img = draw_keypoints(img, uv, skeleton_links('ho3d'), radius=4, thickness=2)
        bottom.append(cv2.resize(img, (298, 224), interpolation=cv2.INTER_AREA))
    a, b = make_grid(top, 4), make_grid(bottom, 4)
    width = max(a.shape[1], b.shape[1])
    pad = lambda g: np.pad(g, ((0, 0), ((width - g.shape[1]) // 2,  # noqa: E731
                                        width - g.shape[1] - (width - g.shape[1]) // 2),
                               (0, 0)), constant_values=255)
    grid = np.concatenate([pad(a), pad(b)[2:]], 0)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, grid):
        raise OSError(f'could not write {path}')
    return grid.shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--num', type=int, default=16)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out-dir', help='keep the data here (default: a temporary folder)')
    parser.add_argument('--grid', help='write a PNG grid of samples here')
    args = parser.parse_args()
    print(f'start-up (imports): {time.perf_counter() - T0:.1f} s')
    out = args.out_dir or tempfile.mkdtemp(prefix='bench_generate_')
    try:
        t = time.perf_counter()
        hands = StandinHands()
        hands.layer(True), hands.layer(False), hands.geometry(True), hands.geometry(False)
        print(f'stand-in hand model (not MANO) layers: {time.perf_counter() - t:.2f} s')
        jobs = [
            ('freihand', lambda r: generate_freihand(r, args.num, args.num, args.seed,
                                                     overwrite=True, progress=False,
                                                     hands=hands),
             f'{args.num} frames x 4 versions + {args.num} eval = {5 * args.num} images 224px'),
            ('ho3d', lambda r: generate_ho3d(r, args.num, args.num, 4, args.seed,
                                             overwrite=True, progress=False, hands=hands),
             f'{args.num} train + {args.num} eval frames 640x480'),
            ('unlabeled', lambda r: generate_unlabeled(r, args.num, args.seed, overwrite=True,
                                                       progress=False, hands=hands),
             f'{args.num} crops 224px'),
        ]
        for name, fn, what in jobs:
            t = time.perf_counter()
            fn(os.path.join(out, name))
            dt = time.perf_counter() - t
            print(f'{name:9s} {what}: {dt:.2f} s')
        if args.grid:
            shape = draw_grid(os.path.join(out, 'freihand'), os.path.join(out, 'ho3d'),
                              args.grid)
            print(f'wrote {args.grid} {shape[1]}x{shape[0]}')
    finally:
        if not args.out_dir:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == '__main__':
    main()
