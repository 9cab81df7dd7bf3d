"""A hook that saves each rank's HandMIM teacher centres after training (distributed tests)."""
import os

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpCentresHook(Hook):

    def after_train(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        torch.save({k: v.detach().clone() for k, v in model.distill_loss.state_dict().items()},
                   os.path.join(runner.work_dir, f'centres_rank{get_rank()}.pt'))
