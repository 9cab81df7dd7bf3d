"""FiniteLossHook: a NaN loss stops training (naming iteration and term) or skips the step,
in both cases before the optimizer touches the weights; gradient accumulation and AMP."""
import logging
import warnings

import pytest
import torch

from mmhandmim.engine.hooks import FiniteLossHook, NonFiniteLossError
from mmhandmim.engine.hooks.finite_loss_hook import SKIPPED_KEY

from .toy import ToyModel, WeightRecorder, captured_log, same, toy_runner

pytestmark = pytest.mark.usefixtures('mmpretrain_scope')  # runners' scopes do not leak


def test_raise_names_iteration_and_term_and_keeps_weights(tmp_path):
    rec = WeightRecorder()
    runner = toy_runner(tmp_path, ToyModel(nan_from=4),
                        dict(type='FiniteLossHook', on_nonfinite='raise'), recorder=rec)
    with captured_log(runner.logger) as log, pytest.raises(NonFiniteLossError) as err:
        runner.train()
    assert err.value.iteration == 4 and list(err.value.terms) == ['loss_b']
    assert 'iteration 4' in str(err.value) and 'loss_b=nan' in str(err.value)
    assert 'loss_a' not in str(err.value)  # the finite term is not blamed
    assert 'iteration 4' in log.text(logging.ERROR)
    # weights, gradients and optimizer state are those after the 3rd (last good) step
    assert same(rec.before[3], runner.model.state_dict())
    assert not same(rec.before[2], rec.before[3])  # (training did move them before)
    assert all(p.grad is None or not p.grad.any() for p in runner.model.parameters())
    state = runner.optim_wrapper.optimizer.state
    assert all(int(s['step']) == 3 for s in state.values())
    assert all(torch.isfinite(s['exp_avg']).all() for s in state.values())


def test_skip_drops_only_the_bad_step_and_counts_it(tmp_path):
    rec = WeightRecorder()
    runner = toy_runner(tmp_path, ToyModel(nan_from=3),
                        dict(type='FiniteLossHook', on_nonfinite='skip'), recorder=rec)
    with captured_log(runner.logger) as log:
        runner.train()
    assert runner.iter == 6
    for i in range(6):
        if i == 2:  # iteration 3 (1-based) had the NaN
            assert same(rec.before[i], rec.after[i]), 'the skipped step changed weights'
        else:
            assert not same(rec.before[i], rec.after[i]), f'step {i + 1} did not update'
    warn = log.text(logging.WARNING)
    assert 'non-finite loss at iteration 3: loss_b=nan' in warn
    assert '1 skipped so far' in warn
    assert '1 optimizer step(s) were skipped' in warn
    assert runner.message_hub.get_info(SKIPPED_KEY) == 1
    state = runner.optim_wrapper.optimizer.state
    assert all(int(s['step']) == 5 for s in state.values())
    assert all(torch.isfinite(p).all() for p in runner.model.parameters())
    # guards removed after training
    assert 'update_params' not in vars(runner.optim_wrapper)
    assert 'parse_losses' not in vars(runner.model)


def test_skip_mode_stops_after_too_many_consecutive(tmp_path):
    runner = toy_runner(tmp_path, ToyModel(nan_from=2, nan_to=100),
                        dict(type='FiniteLossHook', on_nonfinite='skip',
                             max_consecutive_skips=3))
    with pytest.raises(NonFiniteLossError, match='3 consecutive') as err:
        runner.train()
    assert err.value.iteration == 4


def test_skip_with_gradient_accumulation_drops_the_window(tmp_path):
    rec = WeightRecorder()
    runner = toy_runner(tmp_path, ToyModel(nan_from=3),
                        dict(type='FiniteLossHook', on_nonfinite='skip'), recorder=rec,
                        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1),
                                           accumulative_counts=2))
    runner.train()
    # windows: iterations (1,2) (3,4) (5,6); the NaN at 3 drops the whole (3,4) window,
    # including the good gradients of iteration 4
    assert not same(rec.before[0], rec.after[1])
    assert same(rec.before[2], rec.after[3])
    assert not same(rec.before[4], rec.after[5])


def test_composes_with_amp_optim_wrapper(tmp_path, monkeypatch):
    """AmpOptimWrapper (what tools/train.py --amp selects) keeps its own backward/step and
    gets the same guard. Without CUDA its GradScaler is disabled; the constructor's CUDA
    check is bypassed here to exercise the composition on CPU."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    rec = WeightRecorder()
    runner = toy_runner(tmp_path, ToyModel(nan_from=2),
                        dict(type='FiniteLossHook', on_nonfinite='skip'), recorder=rec,
                        max_iters=3,
                        optim_wrapper=dict(type='AmpOptimWrapper', dtype='bfloat16',
                                           optimizer=dict(type='AdamW', lr=0.1)))
    with warnings.catch_warnings():  # the disabled GradScaler says so
        warnings.simplefilter('ignore')
        runner.train()
    assert type(runner.optim_wrapper).__name__ == 'AmpOptimWrapper'
    assert same(rec.before[1], rec.after[1])
    assert not same(rec.before[0], rec.after[0]) and not same(rec.before[2], rec.after[2])


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match='on_nonfinite'):
        FiniteLossHook(on_nonfinite='ignore')


def test_base_runtimes_enable_it():
    import os.path as osp

    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    for name in ('pretrain', 'mesh'):
        cfg = Config.fromfile(osp.join(root, f'configs/_base_/default_runtime_{name}.py'))
        assert cfg.default_hooks.finite_loss == dict(type='FiniteLossHook',
                                                     on_nonfinite='raise')
