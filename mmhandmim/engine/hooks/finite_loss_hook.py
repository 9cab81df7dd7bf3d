"""Stop, or skip, a training step whose loss is not finite before it can reach the weights.

Where the check sits: mmengine's Hook API has no point between the forward pass and the
optimizer step (``after_train_iter`` comes after ``optimizer.step()``, when a NaN has already
gone through the weights, the Adam moments and the AMP loss scale). Every mmengine model's
``train_step`` (``BaseModel``, the DDP/FSDP wrappers, mmpretrain's and mmpose's models) ends in
``parsed_loss, log_vars = model.parse_losses(losses)`` followed by
``optim_wrapper.update_params(parsed_loss)``. So in ``before_train`` this hook wraps those two
calls on the *instances* (``runner.optim_wrapper``, each member of an ``OptimWrapperDict``,
and the unwrapped model) and removes the wrappers in ``after_train``:

* ``parse_losses`` is only observed: the hook keeps the iteration's ``log_vars`` so it can name
  the non-finite loss terms;
* ``update_params`` checks the total loss *before* ``backward``: a non-finite loss never
  produces gradients, so neither the weights nor the optimizer state (moments, step counts)
  nor AMP's ``GradScaler`` see it.

Instance wrapping, rather than a registered ``OptimWrapper`` subclass, composes with whatever
wrapper the config builds (``OptimWrapper``, ``AmpOptimWrapper`` as ``tools/train.py --amp``
selects it, custom ones) without a second "finite" class per wrapper type, and needs no config
change beyond this hook.

In distributed training the decision is all-reduced (max) so that every rank raises or skips
together (a rank that skipped ``backward`` alone would leave the others waiting in DDP's
gradient all-reduce).
"""
from typing import TYPE_CHECKING, Dict, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapperDict
from mmengine.registry import HOOKS

from ...utils.errors import UserInputError

if TYPE_CHECKING:
    from mmengine.runner import Runner

#: message-hub runtime-info key of the number of skipped steps (saved in checkpoints)
SKIPPED_KEY = 'finite_loss_hook/num_skipped'


class NonFiniteLossError(UserInputError, FloatingPointError):
    """Training met a non-finite loss.

    A ``UserInputError`` so the tools print its message (iteration, terms, last checkpoint) on
    one line, with exit status 1: the run failed, the input may be fine.

    Args:
        message (str): the error message.
        iteration (int, optional): 1-based (as in the training log), kept as ``iteration``.
        terms (Dict[str, float], optional): each non-finite logged term (``loss_*`` of
            ``log_vars``) mapped to its value, kept (copied) as ``terms``.
    """

    exit_code = 1

    def __init__(self, message: str, iteration: Optional[int] = None,
                 terms: Optional[Dict[str, float]] = None) -> None:
        super().__init__(message)
        self.iteration = iteration
        self.terms = dict(terms or {})


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def _value(v):
    if isinstance(v, torch.Tensor):
        return v.detach().float().mean().item() if v.numel() else float('nan')
    return float(v)


def _finite(v):
    if isinstance(v, torch.Tensor):
        return bool(torch.isfinite(v.detach()).all())
    try:
        return abs(float(v)) != float('inf') and float(v) == float(v)
    except (TypeError, ValueError):
        return True


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Guard every optimizer update against a non-finite (NaN/inf) loss.

    Args:
        on_nonfinite (str): ``'raise'`` (default): stop training with a
            :class:`NonFiniteLossError` naming the iteration and the non-finite loss terms;
            the weights stay those of the previous iteration. ``'skip'``: drop the optimizer
            update (no backward, no step; with gradient accumulation the whole accumulation
            window is dropped), log a warning with the running count and go on.
        max_consecutive_skips (int, optional): in ``'skip'`` mode, stop (as ``'raise'``)
            once this many iterations in a row had a non-finite loss: the run is diverging,
            not meeting the odd bad batch. None: never.

    Raises:
        ValueError: ``on_nonfinite`` is neither ``'raise'`` nor ``'skip'``, or
            ``max_consecutive_skips`` is below 1.
    """

    priority = 'VERY_HIGH'

    def __init__(self, on_nonfinite: str = 'raise',
                 max_consecutive_skips: Optional[int] = 10) -> None:
        if on_nonfinite not in ('raise', 'skip'):
            raise ValueError(f"on_nonfinite must be 'raise' or 'skip', got {on_nonfinite!r}")
        if max_consecutive_skips is not None and max_consecutive_skips < 1:
            raise ValueError('max_consecutive_skips must be >= 1 or None')
        self.on_nonfinite = on_nonfinite
        self.max_consecutive_skips = max_consecutive_skips
        self.num_skipped = 0
        self.consecutive = 0
        self._runner = None
        self._log_vars = None
        self._patched = []  # (object, attribute name, previous instance value or _MISSING)
        self._poisoned = {}  # id(optim wrapper) -> True while dropping its accumulation window

    # --- installing and removing the guards --------------------------------------------
    def before_train(self, runner: 'Runner') -> None:
        """Install the guards on the model's ``parse_losses`` and the optimizer wrappers.

        Removes guards a previous ``train()`` that ended in an error left in place, and
        restores the skip count from the message hub (a resumed run continues counting).

        Args:
            runner (Runner): the runner.
        """
        self._unpatch()  # a previous train() that ended in an error left them in place
        self._runner = runner
        self.num_skipped = int(runner.message_hub.get_info(SKIPPED_KEY, 0) or 0)
        self.consecutive = 0
        model = _unwrap(runner.model)
        if hasattr(model, 'parse_losses'):
            self._patch(model, 'parse_losses', self._observing_parse_losses(model.parse_losses))
        wrapper = runner.optim_wrapper
        wrappers = wrapper.values() if isinstance(wrapper, OptimWrapperDict) else [wrapper]
        for w in wrappers:
            self._patch(w, 'update_params', self._guarded_update_params(w, w.update_params))

    def after_train(self, runner: 'Runner') -> None:
        """Remove the guards, and warn with the number of skipped steps if any.

        Args:
            runner (Runner): the runner.
        """
        self._unpatch()
        if self.num_skipped:
            runner.logger.warning(f'FiniteLossHook: {self.num_skipped} optimizer step(s) were '
                                  'skipped for non-finite losses in this run')

    def _unpatch(self):
        for obj, name, previous in reversed(self._patched):
            if previous is _MISSING:
                obj.__dict__.pop(name, None)
            else:
                setattr(obj, name, previous)
        self._patched = []
        self._poisoned = {}

    def _patch(self, obj, name, new):
        self._patched.append((obj, name, obj.__dict__.get(name, _MISSING)))
        setattr(obj, name, new)

    def _observing_parse_losses(self, original):
        def parse_losses(*args, **kwargs):
            out = original(*args, **kwargs)
            if isinstance(out, tuple) and len(out) == 2 and isinstance(out[1], dict):
                self._log_vars = out[1]
            return out
        return parse_losses

    def _guarded_update_params(self, wrapper, original):
        def update_params(loss, step_kwargs=None, zero_kwargs=None, **kwargs):
            log_vars, self._log_vars = self._log_vars, None
            bad_here = not _finite(loss)
            bad = self._any_rank(bad_here, loss)
            if not bad:
                self.consecutive = 0
            if not bad and not self._poisoned.get(id(wrapper)):
                return original(loss, step_kwargs=step_kwargs, zero_kwargs=zero_kwargs,
                                **kwargs)
            if bad:
                self._report(loss, log_vars, bad_here)
            # no backward: count the micro-batch as backward would, and at the end of the
            # accumulation window drop its gradients instead of stepping
            wrapper._inner_count += 1
            if wrapper.should_update():
                wrapper.zero_grad(**(zero_kwargs or {}))
                self._poisoned.pop(id(wrapper), None)
            else:
                self._poisoned[id(wrapper)] = True
        return update_params

    # --- the check -------------------------------------------------------------------------
    @staticmethod
    def _any_rank(flag, loss):
        import torch.distributed as dist
        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
            return flag
        device = loss.device if isinstance(loss, torch.Tensor) else 'cpu'
        t = torch.tensor([1.0 if flag else 0.0], device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def _report(self, loss, log_vars, bad_here):
        runner = self._runner
        iteration = runner.iter + 1  # 1-based, as the training log prints it
        terms = {}
        if log_vars:
            terms = {k: _value(v) for k, v in log_vars.items()
                     if 'loss' in k and k != 'loss' and not _finite(v)}
        if bad_here and not terms:
            terms = {'loss': _value(loss)}
        if bad_here:
            what = ', '.join(f'{k}={v}' for k, v in terms.items())
        else:
            what = 'on another rank (this rank\'s loss is finite)'
        where = f'iteration {iteration}'
        from mmengine.runner import EpochBasedTrainLoop
        if isinstance(runner.train_loop, EpochBasedTrainLoop):
            where += f' (epoch {runner.epoch + 1})'
        if self.on_nonfinite == 'skip':
            self.num_skipped += 1
            self.consecutive += 1
            runner.message_hub.update_info(SKIPPED_KEY, self.num_skipped)
            runner.logger.warning(
                f'non-finite loss at {where}: {what}; skipped this optimizer step '
                f'({self.num_skipped} skipped so far, {self.consecutive} in a row)')
            if (self.max_consecutive_skips is None
                    or self.consecutive < self.max_consecutive_skips):
                return
            msg = (f'non-finite loss in {self.consecutive} consecutive iterations, the last '
                   f'at {where}: {what}. Training is diverging; stopped')
        else:
            msg = f'non-finite loss at {where}: {what}. Training stopped'
        last = runner.message_hub.get_info('last_ckpt')
        msg += ('; the optimizer step was not taken, so the weights in memory are those '
                f'after iteration {iteration - 1}. Last checkpoint: {last or "none"}. Lower '
                'the learning rate, enable optim_wrapper.clip_grad, or set '
                "default_hooks.finite_loss.on_nonfinite='skip' to skip such steps")
        runner.logger.error(msg)
        raise NonFiniteLossError(msg, iteration, terms)


class _Missing:
    def __repr__(self):
        return '<missing>'


_MISSING = _Missing()
