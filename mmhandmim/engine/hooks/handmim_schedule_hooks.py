"""Hooks of HandMIM pre-training: teacher EMA, teacher temperature warm-up, frozen prototypes.

Each works with and without a DDP wrapper (it unwraps ``runner.model``) and talks to the
algorithm through ``update_teacher``, ``set_teacher_temp`` and ``last_layer_parameters``.
"""
import math
from typing import TYPE_CHECKING, Optional, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmpretrain.registry import HOOKS
from torch import nn

if TYPE_CHECKING:
    from mmengine.runner import Runner


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a model wrapper (DDP, ...), or ``model`` itself.

    Args:
        model (nn.Module): a model, wrapped or not.

    Returns:
        nn.Module: the unwrapped model.
    """
    return model.module if is_model_wrapper(model) else model


def cosine_momentum(iteration: int, total_iters: int, base: float = 0.996,
                    final: float = 1.0) -> float:
    """DINO/iBOT teacher momentum at an iteration of a cosine schedule.

    Args:
        iteration (int): 0-based iteration.
        total_iters (int): iterations of the schedule.
        base (float): momentum at iteration 0.
        final (float): momentum at ``total_iters``.

    Returns:
        float: ``final - (final - base) * (1 + cos(pi * iteration / total_iters)) / 2``.
    """
    return final - (final - base) * (1 + math.cos(math.pi * iteration / total_iters)) / 2


def teacher_init_share(total_iters: int, base: float = 0.996, final: float = 1.0) -> float:
    """How much of its initialisation the teacher keeps after ``total_iters`` EMA steps.

    Args:
        total_iters (int): EMA steps, on the :func:`cosine_momentum` schedule.
        base (float): momentum at iteration 0.
        final (float): momentum at ``total_iters``.

    Returns:
        float: the product of the momenta (the weight of the starting weights in the
        running average).
    """
    return math.exp(sum(math.log(cosine_momentum(i, total_iters, base, final))
                        for i in range(total_iters)))


@HOOKS.register_module()
class TeacherEMAHook(Hook):
    """After each optimizer step, update the teacher as an EMA of the student.

    ``teacher = m * teacher + (1 - m) * student`` with the momentum ``m`` going from
    ``momentum`` (0.996) to ``end_momentum`` (1) on a cosine over all training iterations.
    ``m`` is the *decay*, unlike ``CosineEMA``'s update weight.

    The teacher moves only on iterations whose optimizer really stepped: not on the
    accumulation iterations of ``accumulative_counts``, not when ``FiniteLossHook`` skipped a
    non-finite loss, not when AMP's ``GradScaler`` skipped an overflowing step. (An EMA step
    without a student step would pull the teacher towards an unchanged student, i.e. shrink
    the effective momentum.) Detected with an optimizer step post-hook, which fires only
    inside a real ``optimizer.step()``.

    Args:
        momentum (float): momentum at the first iteration.
        end_momentum (float): momentum at the end of training.
    """

    priority = 'ABOVE_NORMAL'  # before checkpoint/logger hooks see the iteration's state

    def __init__(self, momentum: float = 0.996, end_momentum: float = 1.0) -> None:
        self.momentum, self.end_momentum = momentum, end_momentum
        self._stepped = False
        self._handles = []

    def before_train(self, runner: 'Runner') -> None:
        """Register the optimizer step post-hooks; warn if the schedule is too short.

        Warns when the teacher would end more than half its random initialisation
        (:func:`teacher_init_share` > 0.5): the downstream weights would be mostly random.

        Args:
            runner (Runner): the runner.
        """
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

    def after_train(self, runner: 'Runner') -> None:
        """Remove the optimizer step post-hooks.

        Args:
            runner (Runner): the runner.
        """
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _mark_step(self, optimizer, args, kwargs):
        self._stepped = True

    def after_train_iter(self, runner: 'Runner', batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Update the teacher if the optimizer stepped, and log ``train/teacher_momentum``.

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch in the epoch.
            data_batch (dict or tuple or list, optional): the batch.
            outputs (dict, optional): the train step's outputs.
        """
        if not self._stepped:
            return
        self._stepped = False
        m = cosine_momentum(runner.iter, runner.max_iters, self.momentum, self.end_momentum)
        unwrap(runner.model).update_teacher(m)
        runner.message_hub.update_scalar('train/teacher_momentum', m)


@HOOKS.register_module()
class TeacherTempHook(Hook):
    """Teacher temperature: linear ``warmup_temp`` -> ``temp`` over ``warmup_epochs``.

    Then constant (iBOT: 0.04 -> 0.07 over 30 epochs, the same for patch outputs unless
    given).

    ``by_epoch=True`` follows iBOT's per-epoch schedule
    (``linspace(warmup_temp, temp, warmup_epochs)[epoch]``); ``False`` ramps per iteration
    over ``warmup_epochs`` epochs, or over ``warmup_iters`` when given (iteration-based loops).

    Args:
        warmup_temp (float): class-output temperature at the start.
        temp (float): class-output temperature after the warm-up.
        warmup_epochs (int): length of the warm-up in epochs.
        patch_warmup_temp (float, optional): patch-output start value; None: ``warmup_temp``.
        patch_temp (float, optional): patch-output final value; None: ``temp``.
        by_epoch (bool): iBOT's per-epoch schedule; False: per iteration.
        warmup_iters (int, optional): length of the warm-up in iterations; given, it implies
            ``by_epoch=False``.
    """

    priority = 'NORMAL'

    def __init__(self, warmup_temp: float = 0.04, temp: float = 0.07, warmup_epochs: int = 30,
                 patch_warmup_temp: Optional[float] = None, patch_temp: Optional[float] = None,
                 by_epoch: bool = True, warmup_iters: Optional[int] = None) -> None:
        self.warmup_iters = warmup_iters
        if warmup_iters is not None:
            by_epoch = False
        self.cls = (warmup_temp, temp)
        self.patch = (warmup_temp if patch_warmup_temp is None else patch_warmup_temp,
                      temp if patch_temp is None else patch_temp)
        self.warmup_epochs, self.by_epoch = warmup_epochs, by_epoch

    def progress(self, runner: 'Runner') -> float:
        """Progress of the warm-up.

        Args:
            runner (Runner): the runner (its epoch or iteration).

        Returns:
            float: in [0, 1]; 1 once the warm-up is over.
        """
        if self.by_epoch:
            return min(1., runner.epoch / max(self.warmup_epochs - 1, 1))
        total = self.warmup_iters
        if total is None:
            total = self.warmup_epochs * runner.max_iters / max(runner.max_epochs, 1)
        return min(1., runner.iter / max(total, 1))

    def before_train_iter(self, runner: 'Runner', batch_idx: int,
                          data_batch: Optional[Union[dict, tuple, list]] = None) -> None:
        """Set the model's teacher temperatures, and log ``train/teacher_temp``.

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch in the epoch.
            data_batch (dict or tuple or list, optional): the batch.
        """
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

    Args:
        freeze_epochs (int): epochs with frozen prototypes.
        freeze_iters (int, optional): when given, counts iterations instead (iteration-based
            loops).
    """

    priority = 'NORMAL'

    def __init__(self, freeze_epochs: int = 1, freeze_iters: Optional[int] = None) -> None:
        self.freeze_epochs, self.freeze_iters = freeze_epochs, freeze_iters
        self.frozen = False
        self._params, self._handles = [], []

    def before_train(self, runner: 'Runner') -> None:
        """Collect the model's last-layer parameters and register the step pre-hooks.

        Args:
            runner (Runner): the runner.
        """
        self._params = list(unwrap(runner.model).last_layer_parameters())
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        self._handles = [w.optimizer.register_step_pre_hook(self._drop_grads) for w in wrappers]

    def before_train_iter(self, runner: 'Runner', batch_idx: int,
                          data_batch: Optional[Union[dict, tuple, list]] = None) -> None:
        """Decide whether this iteration's step keeps the prototypes fixed.

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch in the epoch.
            data_batch (dict or tuple or list, optional): the batch.
        """
        if self.freeze_iters is not None:
            self.frozen = runner.iter < self.freeze_iters
        else:
            self.frozen = runner.epoch < self.freeze_epochs

    def after_train(self, runner: 'Runner') -> None:
        """Remove the optimizer step pre-hooks.

        Args:
            runner (Runner): the runner.
        """
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _drop_grads(self, optimizer, args, kwargs):
        if self.frozen:
            for p in self._params:
                p.grad = None
