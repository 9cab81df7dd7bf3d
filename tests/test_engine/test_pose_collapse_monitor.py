"""PoseCollapseMonitorHook: one warning when the class loss sits at ln K after warm-up, none
while it learns; the gap to ln K and the image share are logged."""
import logging
import math
from types import SimpleNamespace

import torch
from mmengine.logging import MessageHub, MMLogger

from mmhandmim.engine.hooks import PoseCollapseMonitorHook

from .toy import captured_log


def _run(losses, mode='eq4', weight=1.0, warmup=10, window=20):
    model = SimpleNamespace(use_pose_alignment=True, pose_alignment=SimpleNamespace(mode=mode),
                            loss_weights=dict(pose=weight),
                            projection_head=SimpleNamespace(out_dim=512),
                            last_image_share=torch.tensor(0.51))
    logger = MMLogger.get_instance('test_pose_collapse', log_level='INFO')
    runner = SimpleNamespace(model=model, logger=logger, iter=0, max_iters=len(losses),
                             max_epochs=1, message_hub=MessageHub.get_instance('collapse'))
    hook = PoseCollapseMonitorHook(window=window, warmup_iters=warmup)
    with captured_log(logger) as log:
        for it, loss in enumerate(losses):
            runner.iter = it
            hook.after_train_iter(runner, it, outputs=dict(loss_pose=torch.tensor(loss)))
        hook.after_train(runner)
    return log.text(logging.WARNING), runner.message_hub


def test_collapsed_loss_warns_once_and_at_the_end():
    ln_k = math.log(512)
    text, hub = _run([ln_k - 0.004] * 100)
    lines = [line for line in text.splitlines() if 'collapsed' in line]
    assert len(lines) == 2 and lines[1].startswith('at the end of training')
    assert 'ln K = 6.238' in lines[0] and 'literal, degenerate reading' in lines[0]
    assert 'image share of the aligned latent 51.0%' in lines[0]
    assert 'up to iteration 30' in lines[0]  # warm-up 10 + a full window of 20
    assert abs(hub.get_scalar('train/pose_lnk_gap').current() + 0.004) < 1e-5


def test_learning_loss_and_warm_up_plateau_do_not_warn():
    ln_k = math.log(512)
    # at ln K only during warm-up, then it learns
    text, _ = _run([ln_k] * 10 + [ln_k - 0.02 * i for i in range(90)])
    assert 'collapsed' not in text
    # the loss weight is divided out: 2 x ln K is a collapsed loss at weight 2
    text, _ = _run([2 * ln_k] * 60, mode='centred', weight=2.0)
    assert 'collapsed' in text and 'degenerate' not in text
