"""Atomic checkpoints: a kill halfway through writing one leaves the previous checkpoint (also
with max_keep_ckpts=1) and a last_checkpoint that auto-resume can use; resuming works."""
import os
import os.path as osp
import signal
import subprocess
import sys

import pytest
import torch

from mmhandmim.engine.checkpoint import find_latest_checkpoint, is_complete_checkpoint
from mmhandmim.utils.atomic_io import atomic_write_bytes
from tests.helpers.image_folders import make_shape_folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _train(args, work_dir, data_root, *extra_opts):
    opts = [f'{k}_dataloader.dataset.data_root={data_root}' for k in ('train', 'val', 'test')]
    opts += list(extra_opts)
    return subprocess.run(
        [sys.executable, 'tools/train.py', *args, '--work-dir', str(work_dir),
         '--cfg-options', *opts], cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))


def _temps(folder):
    return [n for n in os.listdir(folder) if '.tmp.' in n]


def test_kill_mid_save_then_auto_resume(tmp_path):
    data = make_shape_folder(str(tmp_path / 'shapes'))
    work = tmp_path / 'work'
    killed = _train(['tests/test_engine/tiny_cls_kill_mid_save.py'], work, data)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    # the kill hit the write of epoch 3: only a hidden, half-written temporary file exists
    temps = _temps(work)
    assert len(temps) == 1 and temps[0].startswith('.epoch_3.pth.tmp.'), os.listdir(work)
    assert not is_complete_checkpoint(str(work / temps[0]))
    assert not osp.exists(work / 'epoch_3.pth')
    # epoch 2 survives although max_keep_ckpts=1 (mmengine removes before it saves)
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == ['epoch_2.pth']
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_2.pth')
    assert is_complete_checkpoint(str(work / 'epoch_2.pth'))

    resumed = _train(['tests/configs/tiny_cls.py', '--resume'], work, data,
                     'default_hooks.checkpoint.max_keep_ckpts=1', 'train_cfg.val_interval=100')
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert 'resumed epoch: 2, iter: 8' in out
    # max_keep_ckpts still holds, and the stale temporary file is gone
    assert sorted(n for n in os.listdir(work) if n.endswith('.pth')) == ['epoch_4.pth']
    assert _temps(work) == []
    ckpt = torch.load(work / 'epoch_4.pth', map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 16


@pytest.fixture
def work_dir(tmp_path):
    for epoch in (1, 2):
        torch.save({'state_dict': {'w': torch.full((4, ), float(epoch))}},
                   tmp_path / f'epoch_{epoch}.pth')
    return tmp_path


def test_find_latest_uses_last_checkpoint_when_complete(work_dir):
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'epoch_1.pth'))
    assert find_latest_checkpoint(str(work_dir)) == str(work_dir / 'epoch_1.pth')


@pytest.mark.parametrize('problem', ['truncated', 'dangling', 'empty', 'absent'])
def test_find_latest_falls_back_to_newest_complete(work_dir, problem):
    newest = work_dir / 'epoch_2.pth'
    last = work_dir / 'last_checkpoint'
    if problem == 'truncated':  # e.g. written by a tool without atomic saves
        data = (work_dir / 'epoch_2.pth').read_bytes()
        (work_dir / 'epoch_3.pth').write_bytes(data[:len(data) // 2])
        os.utime(work_dir / 'epoch_3.pth')
        last.write_text(str(work_dir / 'epoch_3.pth'))
    elif problem == 'dangling':
        last.write_text(str(work_dir / 'epoch_9.pth'))
    elif problem == 'empty':
        last.write_text('')
    os.utime(newest, (os.path.getmtime(newest) + 10, ) * 2)
    assert find_latest_checkpoint(str(work_dir)) == str(newest)


def test_find_latest_without_any_checkpoint(tmp_path):
    assert find_latest_checkpoint(str(tmp_path)) is None


def test_runner_uses_the_patched_finder():
    import mmengine.runner.runner as runner_mod
    assert runner_mod.find_latest_checkpoint is find_latest_checkpoint


def test_failed_write_keeps_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    path.write_bytes(b'old')

    def broken_fsync(fd):
        raise OSError('disk full')
    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='disk full'):
        atomic_write_bytes(b'new content', path)
    assert path.read_bytes() == b'old' and _temps(tmp_path) == []
    monkeypatch.undo()
    atomic_write_bytes(b'new content', path)
    assert path.read_bytes() == b'new content'


def test_backend_put_is_atomic_and_keeps_mode(tmp_path):
    from mmengine.fileio import LocalBackend
    path = tmp_path / 'x.pth'
    path.write_bytes(b'old')
    os.chmod(path, 0o640)
    LocalBackend().put(b'new', path)
    assert path.read_bytes() == b'new' and (os.stat(path).st_mode & 0o777) == 0o640
    LocalBackend().put(b'fresh', tmp_path / 'sub' / 'y.pth')  # folders are still created
    assert (tmp_path / 'sub' / 'y.pth').read_bytes() == b'fresh'
