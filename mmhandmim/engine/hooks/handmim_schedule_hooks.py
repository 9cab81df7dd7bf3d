"""Hooks of HandMIM pre-training: teacher EMA, teacher temperature warm-up, frozen prototypes.

Each works with and without a DDP wrapper (it unwraps ``runner.model``) and talks to the
algorithm through ``update_teacher``, ``set_teacher_temp`` and ``last_layer_parameters``.
"""
import math

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmpretrain.registry import HOOKS


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


def cosine_momentum(iteration, total_iters, base=0.996, final=1.0):
    """DINO/iBOT teacher momentum at 0-based ``iteration`` of ``total_iters``:
    ``final - (final - base) * (1 + cos(pi * iteration / total_iters)) / 2``."""
    return final - (final - base) * (1 + math.cos(math.pi * iteration / total_iters)) / 2


def teacher_init_share(total_iters, base=0.996, final=1.0):
    """How much of its initialisation the teacher keeps after ``total_iters`` EMA steps: the
    product of the momenta (the weight of the starting weights in the running average)."""
    return math.exp(sum(math.log(cosine_momentum(i, total_iters, base, final))
                        for i in range(total_iters)))


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """After each optimizer step: ``teacher = m * teacher + (1 - m) * student`` with the
    momentum ``m`` going from ``momentum`` (0.996) to ``end_momentum`` (1) on a cosine over all
    training iterations. ``m`` is the *decay*, unlike ``CosineEMA``'s update weight.

    The teacher moves only on iterations whose optimizer really stepped: not on the
    accumulation iterations of ``accumulative_counts``, not when ``FiniteLossHook`` skipped a
    non-finite loss, not when AMP's ``GradScaler`` skipped an overflowing step. (An EMA step
    without a student step would pull the teacher towards an unchanged student, i.e. shrink
    the effective momentum.) Detected with an optimizer step post-hook, which fires only
    inside a real ``optimizer.step()``.
    """

    priority = 'ABOVE_NORMAL'  # before checkpoint/logger hooks see the iteration's state

    def __init__(self, momentum=0.996, end_momentum=1.0):
        self.momentum, self.end_momentum = momentum, end_momentum
        self._stepped = False
        self._handles = []

    def before_train(self, runner):
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        self._handles = [w.optimizer.register_step_post_hook(self._mark_step)
                         for w in wrappers]
        self._stepped = False
        share = teacher_init_share(runner.max_iters, self.momentum, self.end_momentum)
        if share > 0.5:  # the downstream weights would be mostly the random initialisation
            runner.logger.warning(
                f'TeacherEMAHook: with momentum {self.momentum} -> {self.end_momentum} over '
                f'{runner.max_iters} iterations the teacher ends {share:.0%} its random '
                'initialisation (product of the momenta); lower momentum or train longer')

    def after_train(self, runner):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _mark_step(self, optimizer, args, kwargs):
        self._stepped = True

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not self._stepped:
            return
        self._stepped = False
        m = cosine_momentum(runner.iter, runner.max_iters, self.momentum, self.end_momentum)
        unwrap(runner.model).update_teacher(m)
        runner.message_hub.update_scalar('train/teacher_momentum', m)


@HOOKS.register_module()
class TeacherTempHook(Hook):
    """Teacher temperature: linear ``warmup_temp`` -> ``temp`` over ``warmup_epochs``, then
    constant (iBOT: 0.04 -> 0.07 over 30 epochs, the same for patch outputs unless given).

    ``by_epoch=True`` follows iBOT's per-epoch schedule
    (``linspace(warmup_temp, temp, warmup_epochs)[epoch]``); ``False`` ramps per iteration
    over ``warmup_epochs`` epochs, or over ``warmup_iters`` when given (iteration-based loops).
    """

    priority = 'NORMAL'

    def __init__(self, warmup_temp=0.04, temp=0.07, warmup_epochs=30, patch_warmup_temp=None,
                 patch_temp=None, by_epoch=True, warmup_iters=None):
        self.warmup_iters = warmup_iters
        if warmup_iters is not None:
            by_epoch = False
        self.cls = (warmup_temp, temp)
        self.patch = (warmup_temp if patch_warmup_temp is None else patch_warmup_temp,
                      temp if patch_temp is None else patch_temp)
        self.warmup_epochs, self.by_epoch = warmup_epochs, by_epoch

    def progress(self, runner):
        if self.by_epoch:
            return min(1., runner.epoch / max(self.warmup_epochs - 1, 1))
        total = self.warmup_iters
        if total is None:
            total = self.warmup_epochs * runner.max_iters / max(runner.max_epochs, 1)
        return min(1., runner.iter / max(total, 1))

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        p = self.progress(runner)
        temp = self.cls[0] + (self.cls[1] - self.cls[0]) * p
        patch_temp = self.patch[0] + (self.patch[1] - self.patch[0]) * p
        unwrap(runner.model).set_teacher_temp(temp, patch_temp)
        runner.message_hub.update_scalar('train/teacher_temp', temp)


@HOOKS.register_module()
class FreezeLastLayerHook(Hook):
    """Keep the prototypes (last layer of the projection head) fixed for ``freeze_epochs``.

    As iBOT's ``cancel_gradients_last_layer``, their gradients are dropped (``grad = None``)
    after gradient clipping and right before the optimizer step, so neither the update nor
    weight decay nor Adam moments touch them. This is done by an optimizer step pre-hook,
    which fires inside ``OptimWrapper.update_params`` (also under AMP's ``GradScaler`` and with
    DDP) without changing ``requires_grad`` (which DDP does not allow after wrapping).
    """

    priority = 'NORMAL'

    def __init__(self, freeze_epochs=1, freeze_iters=None):
        """``freeze_iters`` (when given) counts iterations instead (iteration-based loops)."""
        self.freeze_epochs, self.freeze_iters = freeze_epochs, freeze_iters
        self.frozen = False
        self._params, self._handles = [], []

    def before_train(self, runner):
        self._params = list(unwrap(runner.model).last_layer_parameters())
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        self._handles = [w.optimizer.register_step_pre_hook(self._drop_grads) for w in wrappers]

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if self.freeze_iters is not None:
            self.frozen = runner.iter < self.freeze_iters
        else:
            self.frozen = runner.epoch < self.freeze_epochs

    def after_train(self, runner):
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _drop_grads(self, optimizer, args, kwargs):
        if self.frozen:
            for p in self._params:
                p.grad = None
