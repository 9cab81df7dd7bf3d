"""tools/train.py, test.py and dist_train.sh on tiny stock-mmpretrain models: training,
crash + resume, 2-process training with evaluation, and one-line errors for user mistakes."""
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from tests.helpers.image_folders import make_shape_folder

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CLS = 'tests/configs/tiny_cls.py'
MAE = 'tests/configs/tiny_mae.py'


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_shape_folder(str(tmp_path_factory.mktemp('shapes')))


def data_opts(root, splits=('train', 'val', 'test')):
    return ['--cfg-options'] + [f'{k}_dataloader.dataset.data_root={root}' for k in splits]


def run_tool(args, env=None, timeout=300):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def train(config, work_dir, root, *extra, opts=()):
    """``extra``: train.py flags; ``opts``: more --cfg-options entries."""
    splits = ('train', ) if config == MAE else ('train', 'val', 'test')
    return run_tool([sys.executable, 'tools/train.py', config, '--work-dir', str(work_dir),
                     *extra, *data_opts(root, splits), *opts])


def load_ckpt(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def test_train_kill_resume_equals_uninterrupted(shapes, tmp_path):
    full = train(CLS, tmp_path / 'full', shapes)
    assert full.returncode == 0, full.stderr[-3000:]

    killed = train('tests/configs/tiny_cls_killed.py', tmp_path / 'run', shapes)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert osp.isfile(tmp_path / 'run' / 'epoch_2.pth')
    assert not osp.exists(tmp_path / 'run' / 'epoch_3.pth')

    resumed = train(CLS, tmp_path / 'run', shapes, '--resume')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert 'resumed epoch: 2, iter: 8' in resumed.stdout + resumed.stderr

    saved = load_ckpt(tmp_path / 'run' / 'epoch_2.pth')
    assert saved['meta']['epoch'] == 2 and saved['meta']['iter'] == 8
    assert saved['optimizer']['state'], 'optimizer state (Adam moments) must be saved'
    assert 'rng_state' in saved

    a, b = load_ckpt(tmp_path / 'full' / 'epoch_4.pth'), load_ckpt(tmp_path / 'run' /
                                                                    'epoch_4.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 16
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), f'{k} differs after resume'
    for sa, sb in zip(a['optimizer']['state'].values(), b['optimizer']['state'].values()):
        assert torch.equal(sa['exp_avg'], sb['exp_avg'])
    # the run did learn something on the way (weights moved from the epoch-2 state)
    assert any(not torch.equal(v, saved['state_dict'][k]) for k, v in a['state_dict'].items())


def test_resume_explicit_checkpoint_mae_iter_based(shapes, tmp_path):
    first = train(MAE, tmp_path, shapes, opts=['train_cfg.max_iters=4'])
    assert first.returncode == 0, first.stderr[-3000:]
    res = train(MAE, tmp_path, shapes, '--resume', str(tmp_path / 'iter_4.pth'))
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 4' in res.stdout + res.stderr
    final = load_ckpt(tmp_path / 'iter_8.pth')
    assert final['meta']['iter'] == 8


def test_dist_train_two_processes_trains_and_evaluates(shapes, tmp_path):
    res = run_tool(['bash', 'tools/dist_train.sh', CLS, '2', '--work-dir', str(tmp_path),
                    *data_opts(shapes), 'train_cfg.max_epochs=2'],
                   env=dict(PYTHON=sys.executable, PORT='29655'))
    out = res.stdout + res.stderr
    assert res.returncode == 0, out[-3000:]
    assert 'Distributed training: True' in out
    assert 'accuracy/top1' in out
    ckpt = load_ckpt(tmp_path / 'epoch_2.pth')
    # 16 training images, 2 ranks x batch 4 -> 2 iterations per epoch
    assert ckpt['meta']['iter'] == 4


def test_test_tool_evaluates_a_checkpoint(shapes, tmp_path):
    res = train(CLS, tmp_path, shapes, opts=['train_cfg.max_epochs=1'])
    assert res.returncode == 0, res.stderr[-3000:]
    out_pkl = tmp_path / 'preds.pkl'
    res = run_tool([sys.executable, 'tools/test.py', CLS, str(tmp_path / 'epoch_1.pth'),
                    '--work-dir', str(tmp_path), '--out', str(out_pkl), *data_opts(shapes)])
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'accuracy/top1' in res.stdout + res.stderr
    import pickle
    with open(out_pkl, 'rb') as f:
        assert len(pickle.load(f)) == 16  # one prediction per validation image


# --- one clear line for user mistakes -----------------------------------------------------
def error_line(res):
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    assert 'Traceback' not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if 'error:' in ln]
    assert len(lines) == 1, res.stderr[-3000:]
    return lines[0]


def test_error_wrong_config_path():
    res = run_tool([sys.executable, 'tools/train.py', 'configs/no_such.py'])
    assert 'config file not found' in error_line(res) and 'no_such.py' in error_line(res)


def test_error_missing_data_root(tmp_path):
    res = train(CLS, tmp_path, str(tmp_path / 'missing_data'))
    line = error_line(res)
    assert 'data root not found' in line and 'missing_data' in line
    assert 'train_dataloader.dataset.data_root' in line


def test_error_unknown_module_type(shapes, tmp_path):
    res = train(CLS, tmp_path, shapes, opts=['model.backbone.type=NoSuchBackbone'])
    line = error_line(res)
    assert 'NoSuchBackbone' in line and 'unknown module type' in line


def test_error_missing_checkpoint(shapes, tmp_path):
    res = train(CLS, tmp_path, shapes, '--resume', str(tmp_path / 'gone.pth'))
    assert 'gone.pth' in error_line(res) and 'not found' in error_line(res)
    res = run_tool([sys.executable, 'tools/test.py', CLS, str(tmp_path / 'gone.pth'),
                    *data_opts(shapes)])
    assert 'gone.pth' in error_line(res)
