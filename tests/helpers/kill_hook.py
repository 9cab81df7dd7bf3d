"""A hook that SIGKILLs its own process at a chosen point: a crash with no clean-up."""
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAtHook(Hook):
    priority = 'LOWEST'

    def __init__(self, epoch, iter_in_epoch):
        self.epoch, self.iter_in_epoch = epoch, iter_in_epoch

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        # runner.epoch is 0-based: kill in the middle of epoch `epoch` (1-based)
        if runner.epoch + 1 == self.epoch and batch_idx == self.iter_in_epoch:
            os.kill(os.getpid(), signal.SIGKILL)
