"""Generated data shared by the distributed-equivalence and kill/resume tests, and the
helpers that run tools/train.py and tools/dist_train.sh in subprocesses."""
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='session')
def unlabeled_crops(tmp_path_factory):
    """16 stand-in hand crops (96 px) in the pre-training list layout."""
    from mmhandmim.standin.generation import generate_unlabeled
    root = tmp_path_factory.mktemp('dist_unlabeled')
    generate_unlabeled(str(root), num=16, img_size=96, seed=0, progress=False)
    return str(root)


@pytest.fixture(scope='session')
def freihand_16(tmp_path_factory):
    """FreiHAND layout, 16 training and 8 evaluation images (96 px, one rendering)."""
    from mmhandmim.standin.generation import generate_freihand
    root = tmp_path_factory.mktemp('dist_freihand')
    generate_freihand(str(root), num_train=16, num_eval=8, versions=1, img_size=96, seed=2,
                      progress=False)
    return str(root)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run(args, timeout=300, **env):
    """Run a tool from the repository root. One intra-op thread per process: the tiny models
    run ~10x faster so on a shared 2-core machine, and both settings of a comparison use the
    same thread count (torchrun sets 1 for its workers too)."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
                    **{k: str(v) for k, v in env.items()})
    res = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env=full_env)
    res.output = res.stdout + res.stderr
    return res


def train(config, work_dir, *args, nproc=1, timeout=300):
    """``tools/train.py`` (``nproc=1``) or ``tools/dist_train.sh`` (gloo on CPU)."""
    if nproc == 1:
        cmd = [sys.executable, 'tools/train.py', str(config), '--work-dir', str(work_dir)]
        return run(cmd + list(args), timeout=timeout)
    cmd = ['bash', 'tools/dist_train.sh', str(config), str(nproc), '--work-dir', str(work_dir)]
    return run(cmd + list(args), timeout=timeout, PYTHON=sys.executable, PORT=free_port())


def load_ckpt(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def logged(output, key):
    """The values of ``key`` in the training log lines, in order."""
    return [float(v) for v in re.findall(rf'Epoch\(train\).*?\b{key}: ([-0-9.e+]+)', output)]
