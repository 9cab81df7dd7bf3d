"""Test-only modules of the distributed-equivalence and kill/resume tests (imported by
``tests/configs/dist_equiv_*.py`` and the killed configs through ``custom_imports``).

* ``SeedRNGPerSample``: seeds numpy's and python's global generators from the sample index
  before the random transforms run, so a sample's views, masks and augmentation are the same
  whichever process, worker or position in the batch draws it.
* ``KillJobAtHook``: a crash of the whole job (main process and dataloader workers).
* ``CPUSyncBatchNorm`` and the ``CPUSyncBNDistributedDataParallel`` wrapper: batch
  statistics summed over all processes (what ``torch.nn.SyncBatchNorm`` does on GPUs; torch's
  refuses CPU tensors), so 2 processes x batch b normalise like 1 process x batch 2b.
"""
import multiprocessing
import os
import random
import signal

import numpy as np
import torch
import torch.distributed as dist
from mmcv.transforms import BaseTransform
from mmengine.hooks import Hook
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import HOOKS, MODEL_WRAPPERS, TRANSFORMS
from torch import nn
from torch.distributed.nn.functional import all_reduce as differentiable_all_reduce


# registered in mmengine's root registries: found from both mmpretrain- and mmpose-scoped
# configs (child registries fall back to the root)
@TRANSFORMS.register_module()
class SeedRNGPerSample(BaseTransform):
    """``np.random.seed(seed + sample_idx)`` and ``random.seed(...)`` (``sample_idx`` is put
    in every sample by mmengine's ``BaseDataset.get_data_info``)."""

    def __init__(self, seed=0):
        self.seed = seed

    def transform(self, results):
        s = self.seed + int(results['sample_idx'])
        np.random.seed(s)
        random.seed(s)
        return results


class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are the sums over all processes (gloo works).

    Forward: per-channel sum, sum of squares and count all-reduced with the autograd-aware
    ``all_reduce`` (its backward all-reduces the gradients, as SyncBN's backward does), then
    the biased variance normalises and the unbiased one (global count) updates the running
    variance. Outside distributed training or in eval mode it is plain batch norm.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f'expected at least 2D input, got {x.dim()}D')

    def forward(self, x):
        if not (self.training and dist.is_available() and dist.is_initialized()
                and dist.get_world_size() > 1):
            return super().forward(x)
        c = x.shape[1]
        dims = [0] + list(range(2, x.dim()))
        shape = [1, c] + [1] * (x.dim() - 2)
        xf = x.float()
        stats = torch.cat([xf.sum(dims), (xf * xf).sum(dims),
                           xf.new_tensor([x.numel() // c])])
        stats = differentiable_all_reduce(stats)
        n = stats[-1]
        mean = stats[:c] / n
        var = stats[c:2 * c] / n - mean * mean
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else (
                    1.0 / float(self.num_batches_tracked))
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        return y.to(x.dtype)


def convert_to_cpu_sync_bn(module):
    """Replace every ``BatchNorm{1,2,3}d`` by a ``CPUSyncBatchNorm`` that shares its
    parameters and buffers."""
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(
            module, CPUSyncBatchNorm):
        new = CPUSyncBatchNorm(module.num_features, module.eps, module.momentum,
                               module.affine, module.track_running_stats)
        if module.affine:
            new.weight, new.bias = module.weight, module.bias
        if module.track_running_stats:
            new.running_mean, new.running_var = module.running_mean, module.running_var
            new.num_batches_tracked = module.num_batches_tracked
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_to_cpu_sync_bn(child))
    return module


@MODEL_WRAPPERS.register_module()
class CPUSyncBNDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` of the model with its batch norms made ``CPUSyncBatchNorm``
    (the CPU stand-in for ``sync_bn='torch'``, which torch supports on GPUs only)."""

    def __init__(self, module, **kwargs):
        super().__init__(module=convert_to_cpu_sync_bn(module), **kwargs)


@HOOKS.register_module()
class KillJobAtHook(Hook):
    """SIGKILL the training process *and its dataloader workers* before iteration
    ``iter_in_epoch`` (0-based) of epoch ``epoch`` (1-based): a crash with no clean-up, as when
    a node fails or the scheduler kills the job.

    ``tests/helpers/kill_hook.py`` kills the main process only; with dataloader workers that
    leaves them orphaned, and a worker whose queue feeder thread is blocked writing a sample
    into the dead parent's pipe never exits (torch waits for that thread at worker exit), so
    the test's captured pipes would never close.
    """
    priority = 'LOWEST'

    def __init__(self, epoch, iter_in_epoch):
        self.epoch, self.iter_in_epoch = epoch, iter_in_epoch

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.epoch + 1 == self.epoch and batch_idx == self.iter_in_epoch:
            # torch's SIGCHLD handler would raise on the first dead worker: block it
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD})
            for child in multiprocessing.active_children():
                os.kill(child.pid, signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
