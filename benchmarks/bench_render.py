"""Time the CPU software rasteriser and shaded renders.

Usage: python benchmarks/bench_render.py [--repeats 50] [--no-hand]

Renders a closed UV sphere squashed into a hand-sized ellipsoid (1,500 faces, covering
about 30 % of the image, like a hand crop) and prints the median and best wall time and
the median process CPU time per image over ``--repeats`` renders after warm-up:
rasterisation alone, flat and smooth shaded renders and a 4x antialiased render, on 1 and
2 threads, at 224x224 and 640x480.
It also renders the stand-in MANO hand from ``mmhandmim.standin`` when that
module imports and provides a template (otherwise it says why and uses the sphere only).
"""
import argparse
import os
import pickle
import statistics
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mmhandmim.visualization import rasterize, render_mesh  # noqa: E402
from mmhandmim.visualization.primitives import uv_sphere  # noqa: E402


def sphere_scene():
    v, f = uv_sphere(26, 30)                             # 1,500 faces
    v = v * [0.045, 0.08, 0.03] + [0.0, 0.0, 0.5]        # hand-sized ellipsoid at 50 cm
    return 'UV-sphere ellipsoid', v, f


def standin_hand_scene():
    """The stand-in MANO template, if the hand_model package provides one."""
    from mmhandmim.standin.hand import standin_mano_dir  # noqa: F401 (may not exist)
    mano_dir = standin_mano_dir()
    for name in ('MANO_RIGHT.pkl', 'mano_right.pkl'):
        path = os.path.join(mano_dir, name)
        if os.path.exists(path):
            with open(path, 'rb') as fh:
                data = pickle.load(fh, encoding='latin1')
            v = np.asarray(data['v_template'], np.float64)
            f = np.asarray(data['f'], np.int64)
            v = v - v.mean(0) + [0.0, 0.0, 0.5]
            return f'stand-in MANO hand ({path})', v, f
    raise FileNotFoundError(f'no MANO_RIGHT.pkl under {mano_dir}')


def time_ms(fn, repeats: int):
    """(median wall, best wall, median process CPU) in ms. CPU time is reported too
    because wall time is inflated when other processes share the cores."""
    for _ in range(3):
        fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), min(wall), statistics.median(cpu)


def bench_scene(name, v, f, repeats):
    vt = torch.as_tensor(v, dtype=torch.float32)
    ft = torch.as_tensor(f, dtype=torch.long)
    print(f'\nmesh: {name}: {len(v)} vertices, {len(f)} faces')
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for H, W in ((224, 224), (480, 640)):
            # Focal length scales with the image so the mesh covers the same fraction.
            fpx = 2.5 * max(H, W)
            K = torch.tensor([[fpx, 0, W / 2], [0, fpx, H / 2], [0, 0, 1]], dtype=torch.float64)
            frags = rasterize(vt, ft, K, (H, W))
            cover = frags.mask.float().mean().item() * 100
            cases = [
                ('rasterize', lambda: rasterize(vt, ft, K, (H, W))),
                ('render flat', lambda: render_mesh(vt, ft, K, (H, W))),
                ('render smooth', lambda: render_mesh(vt, ft, K, (H, W), shading='smooth')),
                ('render flat AA x4', lambda: render_mesh(vt, ft, K, (H, W), antialias=4)),
            ]
            for label, fn in cases:
                n = repeats if 'AA' not in label or H * W <= 224 * 224 else max(repeats // 5, 5)
                med, best, cpu = time_ms(fn, n)
                print(f'  threads={threads} {W}x{H} ({cover:4.1f}% covered) {label:<18} '
                      f'median {med:7.2f} ms  best {best:7.2f} ms  cpu {cpu:7.2f} ms  (n={n})')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=50)
    parser.add_argument('--no-hand', action='store_true', help='skip the stand-in hand')
    args = parser.parse_args()
    print(f'torch {torch.__version__}, {os.cpu_count()} CPUs visible, '
          f'load average {os.getloadavg()[0]:.2f} (other processes inflate wall times)')
    scenes = [sphere_scene()]
    if not args.no_hand:
        try:
            scenes.append(standin_hand_scene())
        except (ImportError, OSError, KeyError, TypeError, pickle.UnpicklingError) as err:
            print(f'stand-in hand unavailable, sphere only: {type(err).__name__}: {err}')
    for scene in scenes:
        bench_scene(*scene, args.repeats)


if __name__ == '__main__':
    main()
