"""Benchmark tools/analysis/eval_hand_mesh.py on FreiHAND- and HO3D-sized synthetic sets.

    python benchmarks/bench_eval_hand_mesh.py [--sets freihand ho3d] [--keep DIR]

Writes realistic GT and prediction JSON files (full float precision, as ``json.dump`` of
``ndarray.tolist()`` gives them) to a temporary folder (or reuses those in ``--keep DIR``),
then runs the evaluator as a subprocess twice with an empty package cache: "first" parses the
ground truth and caches it, "cached" is every later evaluation against the same ground truth.
Reports wall time including process start, the time the tool measured itself (JSON loading +
metrics + report files) and peak resident memory (``wait4`` rusage). The F-score kernel is
compiled once per machine before timing (numba's cache). Targets on a 2-core machine:
FreiHAND < 5 s, HO3D < 15 s.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(REPO_ROOT, 'tools', 'analysis', 'eval_hand_mesh.py')
SETS = {'freihand': 3960, 'ho3d': 11524}


def random_rotations(rng, n, max_angle=np.pi):
    """(n, 3, 3) rotations about random axes by angles up to ``max_angle`` (Rodrigues)."""
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(0, max_angle, size=(n, 1, 1))
    k = np.zeros((n, 3, 3))
    k[:, 0, 1], k[:, 0, 2], k[:, 1, 2] = -axis[:, 2], axis[:, 1], -axis[:, 0]
    k -= k.transpose(0, 2, 1)
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def make_set(n, protocol, seed=0):
    """GT and prediction arrays: a fixed hand-sized template under random poses.

    GT: template (+2 mm shape noise) rotated, 0.5-0.8 m in front of the camera (OpenGL: -z
    for HO3D). Prediction: GT with ~5 deg rotation, 3 % scale, 10 mm translation errors and
    4 mm per-point noise, giving errors of the size real methods have.
    """
    rng = np.random.default_rng(seed)
    verts_t = rng.normal(0, [0.035, 0.045, 0.015], size=(778, 3))
    xyz_t = rng.normal(0, [0.035, 0.045, 0.015], size=(21, 3))
    rot = random_rotations(rng, n)
    depth = rng.uniform(0.5, 0.8, size=(n, 1, 3)) * np.array([0, 0, 1.0])
    if protocol == 'ho3d':
        depth = -depth
    trans = depth + rng.normal(0, 0.05, size=(n, 1, 3)) * np.array([1.0, 1.0, 0])
    out = {}
    err_rot = random_rotations(rng, n, max_angle=np.deg2rad(8))
    err_scale = 1 + rng.normal(0, 0.03, size=(n, 1, 1))
    err_trans = rng.normal(0, 0.01, size=(n, 1, 3))
    for name, template in (('xyz', xyz_t), ('verts', verts_t)):
        local = template + rng.normal(0, 0.002, size=(n,) + template.shape)
        gt = local @ rot.transpose(0, 2, 1) + trans
        pred = (local @ err_rot.transpose(0, 2, 1) * err_scale) @ rot.transpose(0, 2, 1)
        pred += trans + err_trans + rng.normal(0, 0.004, size=gt.shape)
        out['gt_' + name], out['pred_' + name] = gt, pred
    return out


def write_files(arrays, folder):
    os.makedirs(os.path.join(folder, 'gt'), exist_ok=True)
    for kind in ('xyz', 'verts'):
        with open(os.path.join(folder, 'gt', f'evaluation_{kind}.json'), 'w') as f:
            json.dump(arrays['gt_' + kind].tolist(), f)
    pred_path = os.path.join(folder, 'pred.json')
    with open(pred_path, 'w') as f:
        json.dump([arrays['pred_xyz'].tolist(), arrays['pred_verts'].tolist()], f)
    return pred_path, os.path.join(folder, 'gt')


def compile_kernel():
    """Compile (or load from numba's cache) the F-score and PCK kernels; returns seconds."""
    code = ('import time; t = time.perf_counter(); import numpy as np; '
            'from mmhandmim.evaluation import f_score, pck_curve; f_score(np.zeros((1, 2, 3)), '
            'np.ones((1, 2, 3))); pck_curve(np.zeros((1, 2))); print(time.perf_counter() - t)')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                         text=True, cwd=REPO_ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def run_tool(pred, gt_dir, protocol, out_dir):
    """Run the evaluator; returns (wall s, peak RSS MiB, stdout)."""
    cmd = [sys.executable, TOOL, '--pred', pred, '--gt-dir', gt_dir, '--protocol', protocol,
           '--out-dir', out_dir]
    with tempfile.TemporaryFile('w+') as out, tempfile.TemporaryFile('w+') as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be a max over children)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f'evaluator failed ({proc.returncode}): {stderr.strip()}')
    return wall, usage.ru_maxrss / 1024.0, stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--sets', nargs='+', choices=sorted(SETS), default=['freihand', 'ho3d'])
    parser.add_argument('--keep', help='folder to keep the generated files in')
    args = parser.parse_args()
    root = args.keep or tempfile.mkdtemp(prefix='bench_eval_hand_mesh_')
    # an empty cache: the first run parses the ground truth, the second finds it cached
    os.environ['MMHANDMIM_CACHE'] = tempfile.mkdtemp(prefix='bench_eval_cache_')
    print(f'F-score / PCK kernel compile / cache load: {compile_kernel():.2f} s (not timed)')
    for protocol in args.sets:
        n = SETS[protocol]
        folder = os.path.join(root, protocol)
        pred, gt_dir = os.path.join(folder, 'pred.json'), os.path.join(folder, 'gt')
        if not os.path.exists(os.path.join(gt_dir, 'evaluation_verts.json')):
            t0 = time.perf_counter()
            pred, gt_dir = write_files(make_set(n, protocol), folder)
            print(f'[{protocol}] wrote the JSON files in {time.perf_counter() - t0:.1f} s '
                  '(not timed)')
        sizes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(folder)
                    for f in fs if f.endswith('.json') and 'out' not in dp)
        print(f'[{protocol}] {n} samples x 778 vertices, {sizes / 1e6:.0f} MB of JSON')
        for run in ('first', 'cached'):
            out_dir = os.path.join(folder, f'out_{run}')
            shutil.rmtree(out_dir, ignore_errors=True)
            wall, peak, stdout = run_tool(pred, gt_dir, protocol, out_dir)
            inner = re.search(r'time: (.*)', stdout).group(1)
            print(f'[{protocol}] {run:6s} ground truth: {wall:.2f} s wall incl. process '
                  f'start, peak RSS {peak:.0f} MiB ({inner})')
        print('\n'.join('    ' + line for line in stdout.splitlines()[1:8]))
    shutil.rmtree(os.environ['MMHANDMIM_CACHE'], ignore_errors=True)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == '__main__':
    main()
