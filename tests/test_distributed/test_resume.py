"""Kill (SIGKILL, mid-epoch) + ``--resume`` ends bit-identical to an uninterrupted run, for
the two demo configs as they are (model, hooks, augmentation, 2 dataloader workers), shrunk
in data and length only: 16 samples, batch 4, 3 epochs, a checkpoint per epoch.

Pre-training: student, EMA teacher, centres, AdamW moments; the run is killed in epoch 2
and resumed from the epoch-1 checkpoint, so the resumed part starts where the schedule hooks
change (prototypes unfrozen, teacher temperature at its end value, teacher momentum on its
cosine). Fine-tuning: also the head's batch-norm running statistics and dropout, with
validation after every epoch: it must leave the training's random state and torch's thread
count as they were (the F-score's numba kernel changed the latter: a resumed run, which
skips the first validation, then summed floats differently).

The crash kills the training process and its dataloader workers together (KillJobAtHook),
as a node failure or the scheduler would.
"""
import signal

import torch
from mmengine.config import Config

from .conftest import load_ckpt, train

HANDMIM_DEMO = 'configs/demo/handmim_vit-tiny_demo.py'
MESH_DEMO = 'configs/demo/mesh_vit-tiny_freihand_demo.py'
SHRINK = ['train_dataloader.batch_size=4', 'train_cfg.max_epochs=3',
          'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=-1',
          'default_hooks.logger.interval=1']


def killed_config(config, path, epoch, iter_in_epoch):
    """``config`` plus a hook that SIGKILLs the process and its dataloader workers before
    iteration ``iter_in_epoch`` (0-based) of epoch ``epoch`` (1-based), written to ``path``."""
    cfg = Config.fromfile(config, import_custom_modules=False)
    cfg.custom_imports.imports = list(cfg.custom_imports.imports) + [
        'tests.test_distributed.helpers']
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + [
        dict(type='KillJobAtHook', epoch=epoch, iter_in_epoch=iter_in_epoch)]
    cfg.dump(str(path))
    return path


def kill_and_resume(config, tmp_path, opts):
    full = train(config, tmp_path / 'full', '--cfg-options', *opts)
    assert full.returncode == 0, full.output[-4000:]

    killed = train(killed_config(config, tmp_path / 'killed.py', 2, 2), tmp_path / 'run',
                   '--cfg-options', *opts, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.output[-4000:]
    assert (tmp_path / 'run' / 'epoch_1.pth').is_file()
    assert not (tmp_path / 'run' / 'epoch_2.pth').exists()

    resumed = train(config, tmp_path / 'run', '--resume', '--cfg-options', *opts)
    assert resumed.returncode == 0, resumed.output[-4000:]
    assert 'resumed epoch: 1, iter: 4' in resumed.output

    a, b = load_ckpt(tmp_path / 'full' / 'epoch_3.pth'), load_ckpt(tmp_path / 'run' /
                                                                    'epoch_3.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 12
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), f'{k} differs after resume'
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and sa
    for i in sa:
        for name, v in sa[i].items():
            assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb[i][name])), (i, name)
    assert a['param_schedulers'] == b['param_schedulers']
    # the resumed part did train: the weights moved from the checkpoint it started from
    start = load_ckpt(tmp_path / 'run' / 'epoch_1.pth')['state_dict']
    assert any(not torch.equal(v, start[k]) for k, v in a['state_dict'].items())
    return a, full, resumed


def test_handmim_demo_kill_resume_bit_identical(unlabeled_crops, tmp_path):
    opts = [f'train_dataloader.dataset.data_root={unlabeled_crops}'] + SHRINK
    ckpt, full, resumed = kill_and_resume(HANDMIM_DEMO, tmp_path, opts)
    state = ckpt['state_dict']
    assert {'distill_loss.center', 'distill_loss.patch_center',
            'teacher.projection_head.last_layer.weight_v'} <= set(state)
    # the schedule hooks were active in the compared part: last-layer frozen in epoch 1 only,
    # temperature warm-up 0.04 -> 0.07, teacher momentum increasing
    assert 'teacher_temp: 0.0700' in resumed.output and 'teacher_temp: 0.0400' in full.output


def test_mesh_demo_kill_resume_bit_identical(freihand_16, tmp_path):
    opts = [f'{split}_dataloader.dataset.data_root={freihand_16}'
            for split in ('train', 'val', 'test')] + SHRINK + [
        'train_dataloader.dataset.image_versions=[gs]',
        'train_dataloader.dataset.image_size=96', 'val_dataloader.dataset.image_size=96',
        'test_dataloader.dataset.image_size=96', 'val_dataloader.batch_size=4',
        'model.backbone.init_cfg=None', 'train_cfg.val_interval=1']
    ckpt, full, _ = kill_and_resume(MESH_DEMO, tmp_path, opts)
    state = ckpt['state_dict']
    bn = [k for k in state if k.endswith(('running_mean', 'running_var'))]
    assert len(bn) == 6
    # the full run validated after every epoch (the resumed one skipped epoch 1's)
    assert full.output.count('Epoch(val) [') >= 3


# --- RNGStateHook: what validation and resuming must leave alone ---------------------------
def _runner(**cfg):
    from types import SimpleNamespace
    from unittest.mock import MagicMock
    return SimpleNamespace(cfg=Config(cfg), logger=MagicMock())


def test_validation_restores_torch_threads():
    """The F-score's numba kernel (OpenMP threading layer) sets OpenMP's thread count, which
    torch shares, to all cores; training after validation must keep its own."""
    from mmhandmim.engine.hooks import RNGStateHook
    hook, runner = RNGStateHook(), _runner()
    threads = torch.get_num_threads()
    try:
        hook.before_val(runner)
        torch.set_num_threads(threads + 1)  # what the metric's kernel does
        hook.after_val(runner)
        assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(threads)


def test_resume_with_persistent_workers_warns():
    from mmhandmim.engine.hooks import RNGStateHook
    from mmhandmim.engine.hooks.rng_state_hook import capture_rng_state
    ckpt = dict(rng_state=capture_rng_state())
    for persistent, warned in ((True, True), (False, False)):
        runner = _runner(resume=True, train_dataloader=dict(num_workers=2,
                                                            persistent_workers=persistent))
        RNGStateHook().after_load_checkpoint(runner, ckpt)
        assert runner.logger.warning.called == warned
        if warned:
            assert 'persistent_workers=False' in runner.logger.warning.call_args[0][0]
