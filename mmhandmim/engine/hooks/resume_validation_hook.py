"""Run on resume the validation a killed run did not finish.

mmengine saves the checkpoint of an epoch (``CheckpointHook.after_train_epoch``) *before* the
validation of that epoch. A run killed during that validation resumes from the checkpoint
already past it: after the last epoch the resumed run finds ``epoch == max_epochs``, trains
nothing and never validates; after an earlier epoch it goes on to the next one without the
due validation. This hook records in the work dir (``last_validation.json``, written
atomically by rank 0) the point of the last validation that completed, and on resume runs the
validation that was due at the resumed point when it is not recorded there.
"""
import json
import os
import os.path as osp
from typing import TYPE_CHECKING, Optional

from mmengine.dist import broadcast_object_list, get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...utils.atomic_io import atomic_write_text

if TYPE_CHECKING:
    from mmengine.runner import Runner

MARKER = 'last_validation.json'


def _built_loop(runner, name):
    from mmengine.runner import BaseLoop
    loop = getattr(runner, f'_{name}_loop', None)
    return loop if isinstance(loop, BaseLoop) else None


def validation_due(loop) -> bool:
    """Whether ``loop`` (an epoch- or iteration-based train loop) validates at its current
    point: the test mmengine's loops make right after an epoch or iteration.

    Args:
        loop: the runner's train loop.

    Returns:
        bool: True when a validation is due at ``loop.epoch`` (by epoch) or ``loop.iter``.
    """
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
    if isinstance(loop, EpochBasedTrainLoop):
        point, last = loop.epoch, loop.max_epochs
    elif isinstance(loop, IterBasedTrainLoop):
        point, last = loop.iter, loop.max_iters
    else:
        return False
    if hasattr(loop, '_decide_current_val_interval'):
        loop._decide_current_val_interval()  # as the loop does before its own test
    return point >= loop.val_begin and (point % loop.val_interval == 0 or point == last)


def read_marker(work_dir: str) -> Optional[dict]:
    """The ``{'epoch', 'iter'}`` of the last completed validation recorded in ``work_dir``."""
    try:
        with open(osp.join(work_dir, MARKER)) as f:
            rec = json.load(f)
        return rec if isinstance(rec, dict) else None
    except (OSError, ValueError):
        return None


@HOOKS.register_module()
class ResumeValidationHook(Hook):
    """Record completed validations; on resume run the due one that did not complete.

    ``tools/train.py`` (``engine.runner.build_runner``) adds it to every training run.
    """

    priority = 'LOWEST'  # after_val: after the best checkpoint is saved; before_train: last

    def before_train(self, runner: 'Runner') -> None:
        """On resume, run the validation due at the resumed point if it did not complete.

        Args:
            runner (Runner): the runner.
        """
        loop, val = _built_loop(runner, 'train'), runner._val_loop
        if loop is None or val is None:
            return
        if loop.iter == 0:  # a fresh run: a record of an earlier run in this dir is stale
            if get_rank() == 0 and osp.exists(osp.join(runner.work_dir, MARKER)):
                os.remove(osp.join(runner.work_dir, MARKER))
            return
        run_it = [False]
        if get_rank() == 0:
            rec = read_marker(runner.work_dir)
            run_it[0] = validation_due(loop) and (rec or {}).get('iter') != loop.iter
        broadcast_object_list(run_it, src=0)  # validation is collective: all ranks agree
        if run_it[0]:
            runner.logger.info(
                f'the validation at epoch {loop.epoch}, iter {loop.iter} did not complete '
                'before the interrupted run stopped: running it now')
            runner.val_loop.run()

    def after_val(self, runner: 'Runner') -> None:
        """Record that the validation of the current training point completed.

        Args:
            runner (Runner): the runner.
        """
        loop = _built_loop(runner, 'train')
        if loop is None or get_rank() != 0:
            return
        atomic_write_text(json.dumps(dict(epoch=loop.epoch, iter=loop.iter)) + '\n',
                          osp.join(runner.work_dir, MARKER))
