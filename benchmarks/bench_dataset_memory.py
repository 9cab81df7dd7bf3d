"""Memory and time of constructing FreiHANDMeshDataset on a cold cache, two processes at once.

    python benchmarks/bench_dataset_memory.py [--frames 2000 4000 8000] [--json-frames 4000]
        [--processes 2] [--keep DIR]

For each N, writes FreiHAND training JSONs of N frames in the official layout (K 3x3, mano
[[61]], xyz 21x3, verts 778x3, scale; random but valid numbers at full float precision, as
the real files hold them) plus 4 x N image names (hard links to one 224x224 JPEG), then
starts ``--processes`` processes that construct the dataset (all 4 versions) at the same
moment on an empty cache, as the ranks of one node do. Per process it prints whether it
parsed, its wall time, its peak RSS (``ru_maxrss``, measured in the process) minus its RSS
after the imports (printed separately), and the peak of its anonymous memory (sampled
``RssAnon``; the peak RSS also counts the pages of the memory-mapped JSON file, which are
page cache). Then a linear fit in N, extrapolated to FreiHAND's 32,560 frames x 4 versions,
and, at ``--json-frames``, what ``json.load`` of training_verts.json alone costs (the loader
before parse_array_list). Default run: about 2-3 minutes on 2 cores.
"""
import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FREIHAND_FRAMES = 32560
VERSIONS = 4
POOL = 64  # distinct random frames; the files cycle through them (values do not matter)


def _frames(rng, n):
    """n random valid frames: hand 0.4-0.9 m in front, K with positive focal length."""
    verts = rng.normal(0, 0.03, (n, 778, 3)) + np.stack(
        [rng.normal(0, 0.05, n), rng.normal(0, 0.05, n), rng.uniform(0.4, 0.9, n)], 1)[:, None]
    xyz = verts[:, rng.choice(778, 21, replace=False)]
    f = rng.uniform(400, 700, n)
    K = np.zeros((n, 3, 3))
    K[:, 0, 0], K[:, 1, 1], K[:, 2, 2] = f, f, 1.0
    K[:, :2, 2] = rng.uniform(100, 124, (n, 2))
    mano = rng.normal(0, 0.5, (n, 1, 61))
    mano[:, 0, 60] = f / xyz[:, 9, 2]
    return dict(K=K, mano=mano, xyz=xyz, verts=verts,
                scale=np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=1))


def write_root(root, n, seed=0):
    """The training split of n frames; returns the seconds it took."""
    import cv2
    start = time.time()
    pool = _frames(np.random.default_rng(seed), POOL)
    os.makedirs(os.path.join(root, 'training', 'rgb'), exist_ok=True)
    for key, arr in pool.items():
        texts = [json.dumps(a.tolist()) for a in arr]  # full precision, as json.dump writes
        with open(os.path.join(root, f'training_{key}.json'), 'w') as f:
            f.write('[')
            for i0 in range(0, n, POOL):
                if i0:
                    f.write(', ')
                f.write(', '.join(texts[:min(POOL, n - i0)]))
            f.write(']')
    rgb = os.path.join(root, 'training', 'rgb')
    first = os.path.join(rgb, '00000000.jpg')
    cv2.imwrite(first, np.full((224, 224, 3), 128, np.uint8))
    for k in range(1, VERSIONS * n):
        os.link(first, os.path.join(rgb, f'{k:08d}.jpg'))
    return time.time() - start


def _rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _status_mb(key):
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(f'{key}:'):
                return int(line.split()[1]) / 1024
    return float('nan')


def _baseline_mb():
    """RSS now (after the imports): the peak of the import itself is not the baseline."""
    return _status_mb('VmRSS')


def _anon_mb():
    """Resident anonymous memory now (Linux): RSS without the file pages a memory map of
    the JSON file brings in (page cache, shared by every process and reclaimable)."""
    return _status_mb('RssAnon')


class AnonPeak:
    """Samples ``_anon_mb`` every few ms in a thread; ``peak`` is the largest value seen."""

    def __init__(self):
        import threading
        self.peak, self._stop = _anon_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.003):
            self.peak = max(self.peak, _anon_mb())

    def stop(self):
        self._stop.set()
        self._thread.join()
        return max(self.peak, _anon_mb())


def child_dataset(root, cache, go):
    """One rank: import, wait for the start, construct the dataset; prints a JSON line."""
    import mmhandmim  # noqa: F401
    from mmhandmim.datasets import FreiHANDMeshDataset, freihand
    parses = []
    parse = freihand._load_json_array
    freihand._load_json_array = lambda path: parses.append(path) or parse(path)
    base, base_anon = _baseline_mb(), _anon_mb()
    open(f'{go}.ready{os.getpid()}', 'w').close()
    while not os.path.exists(go):  # the benchmark's start line
        time.sleep(0.005)
    start, anon = time.time(), AnonPeak()
    ds = FreiHANDMeshDataset(root, image_versions=('gs', 'hom', 'sample', 'auto'),
                             cache_dir=cache)
    wall = time.time() - start
    print(json.dumps(dict(pid=os.getpid(), parsed=len(parses), wall=wall, base_mb=base,
                          peak_mb=_rss_mb() - base, anon_mb=anon.stop() - base_anon,
                          samples=len(ds))))


def child_json(path):
    """The old loader on one file: ``np.asarray(json.load(f))``."""
    base, base_anon = _baseline_mb(), _anon_mb()
    start, anon = time.time(), AnonPeak()
    with open(path) as f:
        arr = np.asarray(json.load(f), np.float64)
    print(json.dumps(dict(wall=time.time() - start, base_mb=base, peak_mb=_rss_mb() - base,
                          anon_mb=anon.stop() - base_anon, shape=list(arr.shape))))


def _spawn(args):
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=REPO_ROOT)
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(proc):
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f'benchmark child failed:\n{err}')
    return json.loads(out.strip().splitlines()[-1])


def run_ranks(root, processes):
    cache, go = os.path.join(root, 'cache'), os.path.join(root, 'go')
    procs = [_spawn(['--child-dataset', root, cache, go]) for _ in range(processes)]
    while len([f for f in os.listdir(root) if f.startswith('go.ready')]) < processes:
        if any(p.poll() is not None for p in procs):
            raise SystemExit(f'benchmark child failed:\n{procs[0].communicate()[1]}')
        time.sleep(0.05)
    open(go, 'w').close()
    return [_result(p) for p in procs]


def _fit(ns, ys, at=FREIHAND_FRAMES):
    b, a = np.polyfit(np.asarray(ns, float), np.asarray(ys, float), 1)
    return a + b * at, b * 1000


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--frames', type=int, nargs='+', default=[2000, 4000, 8000])
    p.add_argument('--json-frames', type=int, default=4000,
                   help='N at which json.load of training_verts.json is measured (0: skip)')
    p.add_argument('--processes', type=int, default=2)
    p.add_argument('--keep', help='write the data here and keep it (default: a temp folder)')
    args = p.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix='bench_dataset_memory_')
    builders = {}
    try:
        for n in sorted(set(args.frames) | ({args.json_frames} - {0})):
            root = os.path.join(work, f'freihand_{n}')
            if not os.path.isfile(os.path.join(root, 'training_verts.json')):
                secs = write_root(root, n)
                mb = os.path.getsize(os.path.join(root, 'training_verts.json')) / 2**20
                print(f'N={n}: wrote the JSONs ({mb:.0f} MB verts) in {secs:.1f} s')
            shutil.rmtree(os.path.join(root, 'cache'), ignore_errors=True)
            for f in os.listdir(root):
                if f.startswith('go'):
                    os.remove(os.path.join(root, f))
            if n in args.frames:
                ranks = run_ranks(root, args.processes)
                for r, res in enumerate(ranks):
                    print(f'  N={n} rank {r}: {"parsed" if res["parsed"] else "waited"} '
                          f'({res["parsed"]} files), {res["wall"]:.2f} s, peak RSS '
                          f'+{res["peak_mb"]:.0f} MB (anonymous +{res["anon_mb"]:.0f} MB) over '
                          f'{res["base_mb"]:.0f} MB after imports, {res["samples"]} samples')
                parsers = [res for res in ranks if res['parsed']]
                if len(parsers) != 1:
                    print(f'  N={n}: {len(parsers)} processes parsed (expected exactly 1)')
                builders[n] = (parsers[0], max(ranks, key=lambda r: r['wall']),
                               [r for r in ranks if not r['parsed']])
            if n == args.json_frames:
                res = _result(_spawn(['--child-json',
                                      os.path.join(root, 'training_verts.json')]))
                print(f'  N={n}: json.load of training_verts.json alone: {res["wall"]:.2f} s, '
                      f'peak RSS +{res["peak_mb"]:.0f} MB (anonymous +{res["anon_mb"]:.0f} MB; '
                      'per process, and every rank paid it)')
                print(f'  -> json.load, verts file only, at {FREIHAND_FRAMES} frames: '
                      f'~{res["peak_mb"] * FREIHAND_FRAMES / n:.0f} MB per process, '
                      f'~{res["wall"] * FREIHAND_FRAMES / n:.0f} s (linear in N)')
        ns = sorted(builders)
        if len(ns) >= 2:
            peak, per_k = _fit(ns, [builders[n][0]['peak_mb'] for n in ns])
            anon, anon_k = _fit(ns, [builders[n][0]['anon_mb'] for n in ns])
            wall, wall_k = _fit(ns, [builders[n][1]['wall'] for n in ns])
            waiters = [w['peak_mb'] for n in ns for w in builders[n][2]]  # noqa
            wait_peak = (_fit(ns, [max(w['peak_mb'] for w in builders[n][2]) for n in ns])[0]
                         if all(builders[n][2] for n in ns) else float('nan'))
            print(f'linear fit, extrapolated to {FREIHAND_FRAMES} frames x {VERSIONS} versions '
                  f'({FREIHAND_FRAMES * VERSIONS} samples):')
            print(f'  the parsing process: peak RSS +{peak:.0f} MB ({per_k:.1f} MB per 1000 '
                  f'frames), of it anonymous +{anon:.0f} MB ({anon_k:.1f} per 1000; the rest '
                  'is the mapped JSON file, page cache)')
            print(f'  all ranks ready after {wall:.1f} s ({wall_k:.2f} s per 1000 frames)')
            print(f'  each waiting process: peak RSS +{wait_peak:.0f} MB (measured: '
                  f'{", ".join(f"{w:.0f}" for w in waiters)} MB)')
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--child-dataset':
        child_dataset(*sys.argv[2:5])
    elif len(sys.argv) > 1 and sys.argv[1] == '--child-json':
        child_json(sys.argv[2])
    else:
        main()
