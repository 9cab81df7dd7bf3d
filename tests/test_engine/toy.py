"""A two-term toy model and in-memory data for runner-level tests of the fault-tolerance code."""
import logging
from contextlib import contextmanager

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch import nn
from torch.utils.data import Dataset


class ToyModel(BaseModel):
    """``loss_a`` and ``loss_b``; from the ``nan_from``-th training forward (1-based) up to
    ``nan_to`` (inclusive, default: only that one) ``loss_b`` is NaN."""

    def __init__(self, nan_from=None, nan_to=None):
        super().__init__()
        self.linear = nn.Linear(2, 2)
        self.calls = 0
        self.nan_from = nan_from
        self.nan_to = nan_from if nan_to is None else nan_to

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.linear(inputs)
        if mode != 'loss':
            return out
        self.calls += 1
        loss_a = (out - 1).pow(2).mean()
        loss_b = out.abs().mean()
        if self.nan_from is not None and self.nan_from <= self.calls <= self.nan_to:
            loss_b = loss_b * float('nan')
        return dict(loss_a=loss_a, loss_b=loss_b)


class ToyData(Dataset):
    def __init__(self, n=8):
        g = torch.Generator().manual_seed(0)
        self.items = [dict(inputs=torch.randn(2, generator=g)) for _ in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, idx):
        return self.items[idx]


class WeightRecorder(Hook):
    """Copies of the weights before and after each training iteration (0-based index)."""

    priority = 'LOWEST'

    def __init__(self):
        self.before, self.after = {}, {}

    @staticmethod
    def _weights(runner):
        return {k: v.detach().clone() for k, v in runner.model.state_dict().items()}

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.before[runner.iter] = self._weights(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.after[runner.iter] = self._weights(runner)  # the loop advances iter after this


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def toy_runner(work_dir, model, hook_cfg, max_iters=6, optim_wrapper=None, recorder=None):
    from mmengine.runner import Runner
    return Runner(
        model=model,
        work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyData(), batch_size=2, num_workers=0,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        optim_wrapper=optim_wrapper or dict(optimizer=dict(type='AdamW', lr=0.1)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=None,
                           finite_loss=hook_cfg),
        custom_hooks=[recorder] if recorder is not None else [],
        default_scope='mmengine',
        log_level='INFO')


class ListHandler(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records = []

    def emit(self, record):
        self.records.append((record.levelno, record.getMessage()))

    def text(self, level=logging.DEBUG):
        return '\n'.join(m for lv, m in self.records if lv >= level)


@contextmanager
def captured_log(logger=None):
    """What mmengine's current logger (or ``logger``) emits inside the block."""
    from mmengine.logging import MMLogger
    logger = logger or MMLogger.get_current_instance()
    handler = ListHandler()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
