"""Run control of tools/train.py and test.py: Ctrl-C ends with a resume command (exit 130), one
training per work dir (a lock; a dead holder is no obstacle; all ranks agree), a run killed
during its final validation validates when resumed, and a read-only work dir or a full disk
ends on one line naming the path (exit 2)."""
import errno
import json
import os
import os.path as osp
import shlex
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from mmhandmim.engine.hooks.resume_validation_hook import MARKER
from mmhandmim.engine.work_dir_lock import (LOCK_NAME, WorkDirBusyError, WorkDirLock,
                                            hold_work_dir)
from tests.helpers.tools import load_tool
from tests.helpers.image_folders import make_shape_folder

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CLS = 'tests/configs/tiny_cls.py'
ENV = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')


@pytest.fixture(scope='module')
def shapes(tmp_path_factory):
    return make_shape_folder(str(tmp_path_factory.mktemp('shapes')))


def _opts(root, *extra):
    return ['--cfg-options', *[f'{k}_dataloader.dataset.data_root={root}'
                               for k in ('train', 'val', 'test')], *extra]


def _train_cmd(config, work, root, *extra):
    return [sys.executable, 'tools/train.py', config, '--work-dir', str(work),
            *_opts(root, *extra)]


def _run(cmd, env=None, timeout=300):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=env or ENV)


_tool = load_tool


def _error_line(err, prog='train.py'):
    lines = [ln for ln in err.splitlines() if ln.startswith(f'{prog}: error:')]
    assert len(lines) == 1 and 'Traceback' not in err, err[-3000:]
    return lines[0]


def _temps(folder):
    return [n for n in os.listdir(folder) if '.tmp.' in n]


# --- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_prints_resume_command_and_the_command_resumes(shapes, tmp_path):
    work = tmp_path / 'work'
    cmd = _train_cmd(CLS, work, shapes, 'train_cfg.max_epochs=6', 'train_cfg.val_interval=100')
    # the child must not inherit an ignored SIGINT: a shell's background job (`make test &`)
    # starts with SIGINT ignored, and Python then installs no KeyboardInterrupt handler
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ENV,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not osp.exists(work / 'epoch_1.pth') and proc.poll() is None:
        assert time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C in a terminal sends
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    prefix = 'train.py: interrupted; resume with: '
    assert last.startswith(prefix), last
    resume = shlex.split(last[len(prefix):])
    assert resume[:4] == ['python', 'tools/train.py', CLS, '--resume']
    assert resume[4:] == cmd[3:]  # everything else as given: --work-dir, --cfg-options
    assert _temps(work) == [], 'nothing half-written may remain'
    probe = WorkDirLock(str(work))
    probe.acquire('test')  # the interrupted run released its lock
    probe.release()

    done = _run([sys.executable, *resume[1:]])
    assert done.returncode == 0, done.stderr[-3000:]
    assert 'resumed epoch:' in done.stdout + done.stderr
    assert torch.load(work / 'epoch_6.pth', weights_only=False)['meta']['iter'] == 24


def test_ctrl_c_in_test_tool(tmp_path, capsys, monkeypatch):
    tool = _tool('test')

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(tool, 'test', interrupted)
    with pytest.raises(SystemExit) as exit_info:
        tool.main([CLS, 'ckpt.pth', '--work-dir', str(tmp_path)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 130
    assert err.strip() == ('test.py: interrupted; rerun with: python tools/test.py '
                           f'{CLS} ckpt.pth --work-dir {tmp_path}')


# --- one run per work dir -------------------------------------------------------------------
# the lock module alone, without mmhandmim.engine's __init__ (its hooks import mmpose: seconds
# per process on a loaded machine)
LOCK_ONLY = textwrap.dedent(f'''
    import sys, types
    import mmhandmim
    _engine = types.ModuleType('mmhandmim.engine')
    _engine.__path__ = ['{ROOT}/mmhandmim/engine']
    sys.modules['mmhandmim.engine'] = _engine
''')
HOLDER = LOCK_ONLY + textwrap.dedent('''
    import time
    from mmhandmim.engine.work_dir_lock import WorkDirLock
    WorkDirLock(sys.argv[1]).acquire('holder command')
    print('locked', flush=True)
    time.sleep(120)
''')
LIGHT = dict(ENV, MMHANDMIM_LIGHT_IMPORT='1', PYTHONPATH=ROOT)


def _start_holder(work):
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, str(work)], cwd=ROOT, env=LIGHT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


def test_second_run_in_held_work_dir_is_refused(shapes, tmp_path):
    work = tmp_path / 'work'
    holder = _start_holder(work)
    try:
        res = _run(_train_cmd(CLS, work, shapes))
        assert res.returncode == 2
        line = _error_line(res.stderr)
        assert f'work dir {work} is in use by another run (pid {holder.pid} on' in line
        assert 'holder command' in line
        assert sorted(os.listdir(work)) == [LOCK_NAME], 'the refused run wrote nothing'
    finally:
        holder.kill()
        holder.wait()
    # the holder died without releasing: the kernel dropped its lock
    lock = WorkDirLock(str(work))
    lock.acquire('after the holder died')
    rec = json.loads((work / LOCK_NAME).read_text())
    assert rec['pid'] == os.getpid() and rec['command'] == 'after the holder died'
    with pytest.raises(WorkDirBusyError):  # and it excludes others again
        WorkDirLock(str(work)).acquire('third')
    lock.release()


RANK = LOCK_ONLY + textwrap.dedent('''
    import torch.distributed as dist
    from mmhandmim.engine.work_dir_lock import hold_work_dir, WorkDirBusyError
    dist.init_process_group('gloo')
    try:
        with hold_work_dir(sys.argv[1], 'dist run'):
            dist.barrier()
            print('held', flush=True)
    except WorkDirBusyError as exc:
        print('refused:', exc, flush=True)
        sys.exit(2)
''')


def _two_ranks(work):
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen(
        [sys.executable, '-c', RANK, str(work)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
        env=dict(LIGHT, RANK=str(r), WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                 MASTER_PORT=str(port))) for r in range(2)]
    return [(p.wait(timeout=120), p.stdout.read()) for p in procs]


def test_distributed_ranks_agree_with_rank_0(tmp_path):
    work = tmp_path / 'work'
    holder = _start_holder(work)
    try:
        (c0, o0), (c1, o1) = _two_ranks(work)
    finally:
        holder.kill()
        holder.wait()
    assert (c0, c1) == (2, 2), (o0, o1)  # rank 1 stops too instead of waiting for rank 0
    assert f'pid {holder.pid}' in o0 and 'rank 0 refused' in o1 and f'pid {holder.pid}' in o1
    (c0, o0), (c1, o1) = _two_ranks(work)
    assert (c0, c1) == (0, 0) and o0.strip() == o1.strip() == 'held'


def test_lock_is_released_after_the_block(tmp_path):
    with hold_work_dir(str(tmp_path), 'one'):
        with pytest.raises(WorkDirBusyError, match='one'):
            WorkDirLock(str(tmp_path)).acquire('two')
    WorkDirLock(str(tmp_path)).acquire('three')


# --- a kill during the final validation ------------------------------------------------------
KILL_HOOK = textwrap.dedent('''
    import os, signal
    from mmengine.hooks import Hook
    from mmengine.registry import HOOKS

    @HOOKS.register_module()
    class KillInFinalValHook(Hook):
        def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.epoch == runner.max_epochs and batch_idx == 1:
                os.kill(os.getpid(), signal.SIGKILL)
''')


def test_kill_during_final_validation_validates_on_resume(shapes, tmp_path, capsys):
    (tmp_path / 'kill_in_val.py').write_text(KILL_HOOK)
    (tmp_path / 'killed_cfg.py').write_text(textwrap.dedent(f'''
        _base_ = ['{osp.join(ROOT, CLS)}']
        custom_imports = dict(imports=['mmhandmim', 'kill_in_val'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='KillInFinalValHook')]
    '''))
    work, sched = tmp_path / 'work', ('train_cfg.max_epochs=2', 'train_cfg.val_interval=2')
    killed = _run(_train_cmd(str(tmp_path / 'killed_cfg.py'), work, shapes, *sched),
                  env=dict(ENV, PYTHONPATH=f'{tmp_path}:{ROOT}'))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert osp.isfile(work / 'epoch_2.pth') and not osp.exists(work / MARKER)

    resumed = _run(_train_cmd(CLS, work, shapes, *sched) + ['--resume'])
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-3000:]
    assert 'resumed epoch: 2, iter: 8' in out
    assert 'Epoch(val) [2][4/4]' in out and 'accuracy/top1' in out, out[-3000:]
    assert json.loads((work / MARKER).read_text()) == dict(epoch=2, iter=8)

    # once done, resuming the finished run validates no more (in-process: faster)
    capsys.readouterr()
    _tool('train').main([CLS, '--work-dir', str(work), '--resume', *_opts(shapes, *sched)])
    out = capsys.readouterr().out
    assert 'resumed epoch: 2, iter: 8' in out and 'Epoch(val)' not in out


# --- work dir problems ----------------------------------------------------------------------
@pytest.mark.parametrize('tool', ['train', 'test'])
def test_read_only_work_dir(tool, shapes, tmp_path, capsys, monkeypatch):
    work = tmp_path / 'ro'
    work.mkdir()
    real_open = os.open

    def read_only_fs(path, flags, *args, **kwargs):
        writing = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writing and osp.abspath(os.fspath(path)).startswith(str(work)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)
    monkeypatch.setattr(os, 'open', read_only_fs)
    argv = [CLS] + ([str(tmp_path / 'c.pth')] if tool == 'test' else [])
    (tmp_path / 'c.pth').write_bytes(b'')
    with pytest.raises(SystemExit) as exit_info:
        _tool(tool).main(argv + ['--work-dir', str(work), *_opts(shapes)])
    line = _error_line(capsys.readouterr().err, f'{tool}.py')
    assert exit_info.value.code == 2
    assert f'cannot write to the work dir {work}: Read-only file system (EROFS)' in line
    assert os.listdir(work) == []


def test_full_disk_while_saving_checkpoint(shapes, tmp_path, capsys, monkeypatch):
    from mmhandmim.utils import atomic_io
    real_fsync = atomic_io._fsync_file

    def full_disk(path):
        if osp.basename(path).startswith('.epoch_2.pth.tmp.'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_fsync(path)
    monkeypatch.setattr(atomic_io, '_fsync_file', full_disk)
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as exit_info:
        _tool('train').main([CLS, '--work-dir', str(work),
                             *_opts(shapes, 'train_cfg.val_interval=100')])
    line = _error_line(capsys.readouterr().err)
    assert exit_info.value.code == 2
    assert (f'cannot write checkpoint {work}/epoch_2.pth: No space left on device (ENOSPC); '
            'free space') in line
    assert _temps(work) == [] and not osp.exists(work / 'epoch_2.pth')
    assert osp.isfile(work / 'epoch_1.pth')  # the previous checkpoint is intact


def test_full_disk_while_writing_log(shapes, tmp_path, capsys, monkeypatch):
    from mmengine.visualization import LocalVisBackend

    def full_disk(self, *args, **kwargs):
        path = osp.join(self._save_dir, self._scalar_save_file)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
    monkeypatch.setattr(LocalVisBackend, 'add_scalars', full_disk)
    work = tmp_path / 'work'
    with pytest.raises(SystemExit) as exit_info:
        _tool('train').main([CLS, '--work-dir', str(work), *_opts(shapes)])
    line = _error_line(capsys.readouterr().err)
    assert exit_info.value.code == 2
    assert 'scalars.json: No space left on device (ENOSPC)' in line and str(work) in line
