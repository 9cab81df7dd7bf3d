"""utils.cache.cached_arrays builds each entry once per machine: with several processes asking
for the same missing entry at once, one builds it under an exclusive flock and the others
wait and open its result. Real processes (subprocesses), since the lock is between processes.
"""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from mmhandmim.utils.cache import cached_arrays

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: one process: signal ready, wait for "go", ask for the entry; the build logs itself to
#: ``builds`` and takes a while, so the other process arrives while it runs
CHILD = textwrap.dedent('''
    import json, os, sys, time
    import numpy as np
    from mmhandmim.utils.cache import cached_arrays
    src, cache_dir, builds, go, mode = sys.argv[1:6]
    open(f'{go}.ready{os.getpid()}', 'w').close()
    while not os.path.exists(go):  # the test's start line (not the cache's way of waiting)
        time.sleep(0.005)

    def build():
        start = time.time()
        if mode == 'die':
            os._exit(3)  # killed mid-build, holding the lock
        time.sleep(1.5)
        with open(builds, 'a') as f:
            f.write(json.dumps(dict(pid=os.getpid(), start=start, end=time.time())) + '\\n')
        return {'a': np.arange(12.0).reshape(3, 4) * 0.1, 'b': np.array([os.getpid()])}

    called = time.time()
    out = cached_arrays('test', [src], build, cache_dir)
    print(json.dumps(dict(pid=os.getpid(), called=called, a=out['a'].tolist(),
                          b=out['b'].tolist())))
''')


def _start(tmp_path, n, mode='build'):
    src = tmp_path / 'source.json'
    if not src.exists():
        src.write_text('[1, 2, 3]')
    env = dict(os.environ, MMHANDMIM_LIGHT_IMPORT='1', PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    go = str(tmp_path / 'go')
    procs = [subprocess.Popen(
        [sys.executable, '-c', CHILD, str(src), str(tmp_path / 'cache'),
         str(tmp_path / 'builds'), go, mode], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for _ in range(n)]
    deadline = time.time() + 120
    while len([f for f in os.listdir(tmp_path) if f.startswith('go.ready')]) < n:
        assert time.time() < deadline and all(p.poll() is None for p in procs), \
            [p.communicate() for p in procs]
        time.sleep(0.01)
    open(go, 'w').close()
    return src, procs


def _results(procs):
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


def _builds(tmp_path):
    path = tmp_path / 'builds'
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize('n', [2, 3])
def test_concurrent_processes_build_once(tmp_path, n):
    src, procs = _start(tmp_path, n)
    results = _results(procs)
    builds = _builds(tmp_path)
    assert len(builds) == 1, builds  # exactly one process parsed
    builder = builds[0]
    others = [r for r in results if r['pid'] != builder['pid']]
    assert len(others) == n - 1
    # the others really asked while the build was running (they waited, they did not come
    # late to a finished entry) ...
    assert all(r['called'] < builder['end'] for r in others)
    # ... and got the builder's arrays
    expected = (np.arange(12.0).reshape(3, 4) * 0.1).tolist()
    assert all(r['a'] == expected and r['b'] == [builder['pid']] for r in results)
    entries = [f for f in os.listdir(tmp_path / 'cache') if not f.endswith('.lock')]
    assert len(entries) == 1 and '.tmp' not in entries[0]  # one published entry, no leftovers


def test_a_builder_killed_mid_build_does_not_block_the_others(tmp_path):
    """The kernel drops the lock of a dead process: the next caller builds the entry, and
    removes the dead builder's half-written folder."""
    src, procs = _start(tmp_path, 1, mode='die')
    procs[0].communicate(timeout=120)
    assert procs[0].returncode == 3
    cache = tmp_path / 'cache'
    left = [f for f in os.listdir(cache) if not f.endswith('.lock')]
    assert len(left) == 1 and '.tmp' in left[0]  # not published
    calls = []
    out = cached_arrays('test', [str(src)], lambda: calls.append(1) or {'a': np.ones(2)},
                        str(cache))
    assert calls == [1] and out['a'].tolist() == [1.0, 1.0]
    assert not [f for f in os.listdir(cache) if '.tmp' in f]


def test_a_failed_build_publishes_nothing(tmp_path):
    src = tmp_path / 'source.json'
    src.write_text('[]')

    def broken():
        raise ValueError('bad file')

    with pytest.raises(ValueError, match='bad file'):
        cached_arrays('test', [str(src)], broken, str(tmp_path / 'cache'))
    calls = []
    cached_arrays('test', [str(src)], lambda: calls.append(1) or {'a': np.zeros(1)},
                  str(tmp_path / 'cache'))
    cached_arrays('test', [str(src)], lambda: calls.append(2) or {'a': np.zeros(1)},
                  str(tmp_path / 'cache'))
    assert calls == [1]  # rebuilt after the failure, then read from the cache
