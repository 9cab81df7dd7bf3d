"""Warn when the class-token distillation has collapsed to the uniform distribution.

A collapsed L_pose (or iBOT's class loss) sits at ln K, the cross-entropy of a uniform
prediction over K prototypes, and carries no information; the rest of the run still trains, so
nothing else in the log says so. Measured on the literal eq. 4 alignment: L_pose ends at 6.234
against ln 512 = 6.238 in every run, right after the prototypes unfreeze.
"""
import math
from collections import deque
from typing import TYPE_CHECKING, Optional, Union

import torch
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS
from torch import nn

from .handmim_schedule_hooks import unwrap

if TYPE_CHECKING:
    from mmengine.runner import Runner


@HOOKS.register_module()
class PoseCollapseMonitorHook(Hook):
    """Log how close the class loss is to ln K, and warn when it has collapsed there.

    Logs the class loss' distance to ln K and the in-batch image share of the teacher's
    aligned latent (``train/pose_lnk_gap``, ``train/pose_image_share``); warns once, in one
    line, when the class loss has stayed within ``tolerance`` of ln K over ``window``
    iterations after ``warmup_iters`` (default: the first epoch, while the prototypes are
    frozen and the teacher temperature warms up), and again at the end if it still is.

    The image share is the between-image share of the variance of the normalised latents of an
    image's global views (``alignment_diagnostics.in_batch_image_share``): near 1 when the image
    drives the latent, near 1 / (number of global views) when the view geometry does.

    Args:
        tolerance (float): largest mean distance of the class loss to ln K that counts as
            collapsed.
        window (int): iterations the mean distance is taken over.
        warmup_iters (int, optional): iterations before the ``window`` starts counting
            towards a warning; None: the first epoch (``max_iters // max_epochs``).
    """

    priority = 'LOW'

    def __init__(self, tolerance: float = 0.05, window: int = 50,
                 warmup_iters: Optional[int] = None) -> None:
        self.tolerance, self.window, self.warmup_iters = tolerance, window, warmup_iters
        self._gaps, self._shares = deque(maxlen=window), deque(maxlen=window)
        self.warned = False

    @staticmethod
    def _key(model):
        return 'loss_pose' if getattr(model, 'use_pose_alignment', False) else 'loss_cls'

    def _warmup(self, runner):
        if self.warmup_iters is not None:
            return self.warmup_iters
        return runner.max_iters // max(runner.max_epochs, 1) if runner.max_epochs else 0

    def after_train_iter(self, runner: 'Runner', batch_idx: int,
                         data_batch: Optional[Union[dict, tuple, list]] = None,
                         outputs: Optional[dict] = None) -> None:
        """Log the iteration's distance and image share; warn on the first collapse.

        Does nothing when ``outputs`` lack the class loss or its weight is 0.

        Args:
            runner (Runner): the runner.
            batch_idx (int): index of the batch in the epoch.
            data_batch (dict or tuple or list, optional): the batch.
            outputs (dict, optional): the train step's logged losses (``loss_pose`` or
                ``loss_cls``).
        """
        model = unwrap(runner.model)
        key = self._key(model)
        if not outputs or key not in outputs or not model.loss_weights.get('pose'):
            return
        ln_k = math.log(model.projection_head.out_dim)
        gap = float(torch.as_tensor(outputs[key]).detach()) / model.loss_weights['pose'] - ln_k
        self._gaps.append(gap)
        runner.message_hub.update_scalar('train/pose_lnk_gap', gap)
        share = getattr(model, 'last_image_share', None)
        if share is not None:
            self._shares.append(float(share))
            runner.message_hub.update_scalar('train/pose_image_share', float(share))
        if (not self.warned and runner.iter + 1 >= self._warmup(runner) + self.window
                and self.collapsed()):
            self.warned = True
            runner.logger.warning(self.message(key, ln_k, model, runner.iter + 1))

    def collapsed(self) -> bool:
        """Whether the last ``window`` iterations' mean distance to ln K is below ``tolerance``.

        Returns:
            bool: False until ``window`` iterations were seen.
        """
        return (len(self._gaps) == self.window
                and abs(sum(self._gaps) / self.window) < self.tolerance)

    def message(self, key: str, ln_k: float, model: nn.Module, iteration: int) -> str:
        """The one-line collapse warning.

        Args:
            key (str): the class loss' name, ``'loss_pose'`` or ``'loss_cls'``.
            ln_k (float): ln of the number of prototypes.
            model (nn.Module): the (unwrapped) ``HandMIM``; its alignment mode gives a hint.
            iteration (int): the last iteration seen (1-based).

        Returns:
            str: the message.
        """
        mean = ln_k + sum(self._gaps) / len(self._gaps)
        share = (f'; image share of the aligned latent {sum(self._shares) / len(self._shares):.1%}'
                 if self._shares else '')
        alignment = getattr(model, 'pose_alignment', None) if key == 'loss_pose' else None
        hint = (" (mode='eq4' without a centre is the literal, degenerate reading: use the "
                "default dict(mode='centred', center_momentum=0.9))"
                if alignment is not None and alignment.mode == 'eq4' else '')
        return (f'{key} collapsed: it has stayed within {self.tolerance} of ln K = {ln_k:.3f} '
                f'(mean {mean:.3f} over the last {len(self._gaps)} iterations, up to iteration '
                f'{iteration}){share}. The class tokens are distilled to a uniform prediction '
                'and learn nothing; check the alignment mode' + hint + ', the augmentation '
                'strength, the teacher momentum and temperature')

    def after_train(self, runner: 'Runner') -> None:
        """Warn again if the class loss collapsed and still is.

        Args:
            runner (Runner): the runner.
        """
        model = unwrap(runner.model)
        if self.warned and self.collapsed():
            runner.logger.warning('at the end of training ' + self.message(
                self._key(model), math.log(model.projection_head.out_dim), model, runner.iter))
