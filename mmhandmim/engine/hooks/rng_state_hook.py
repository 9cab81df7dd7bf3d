"""Save the random number generators' states in checkpoints and restore them on resume.

mmengine stores only the seed, so a resumed run draws different dropout masks, augmentation
parameters and masks than the uninterrupted run would have. With this hook an epoch-based
run resumed from a checkpoint continues with exactly the generator states it was saved with.
"""
import random
from typing import TYPE_CHECKING, Any, Dict

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

if TYPE_CHECKING:
    from mmengine.runner import Runner


def capture_rng_state() -> Dict[str, Any]:
    """The states of python's, numpy's and torch's generators (and CUDA's when initialised).

    Returns:
        Dict[str, Any]: ``python``, ``numpy``, ``torch`` and, with an initialised CUDA,
        ``cuda`` (all devices).
    """
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Set the generators to a :func:`capture_rng_state` result.

    Args:
        state (Dict[str, Any]): as :func:`capture_rng_state` returns; ``cuda`` is restored
            when present and CUDA is available.
    """
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


# Registered in mmengine's root registry so both mmpretrain- and mmpose-scoped configs find it.
@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save and restore the generators' states in checkpoints; isolate validation from them.

    Checkpoints carry ``rng_state`` (python, numpy, torch, cuda) of rank 0, and
    validation leaves the generators, and torch's intra-op thread count, as it found them.

    Checkpoints are written by rank 0 only, so only its generators can be saved. On resume
    every rank restores them when ``randomness.diff_rank_seed`` is off (ranks were seeded
    alike); otherwise only rank 0 does and the others keep their fresh per-rank seeds.

    Args:
        isolate_validation (bool): restore the generators' states and torch's thread count
            after each validation.
    """

    priority = 'VERY_LOW'

    def __init__(self, isolate_validation: bool = True) -> None:
        # Validation draws from the generators too (e.g. the dataloader's base seed), so a
        # run that validated before a checkpoint would continue differently from one resumed
        # from it. Restoring the states after validation keeps training independent of it.
        # The thread count too: the F-score's numba kernel (parallel=True, OpenMP threading
        # layer) sets OpenMP's thread count, which torch shares, to NUMBA_NUM_THREADS (all
        # cores), so training after the first validation ran with other threads than before
        # (OMP_NUM_THREADS / torchrun's 1): other float sums, so a resumed run was not
        # bit-identical, and rank 0 (which computes the metrics) took every core.
        self.isolate_validation = isolate_validation
        self._before_val = None
        self._threads = None

    def before_val(self, runner: 'Runner') -> None:
        """Capture the generators' states and the thread count (``isolate_validation``).

        Args:
            runner (Runner): the runner.
        """
        if self.isolate_validation:
            self._before_val = capture_rng_state()
            self._threads = torch.get_num_threads()

    def after_val(self, runner: 'Runner') -> None:
        """Restore what :meth:`before_val` captured.

        Args:
            runner (Runner): the runner.
        """
        if self._before_val is not None:
            restore_rng_state(self._before_val)
            self._before_val = None
        if self._threads is not None:
            if torch.get_num_threads() != self._threads:
                torch.set_num_threads(self._threads)
            self._threads = None

    def before_save_checkpoint(self, runner: 'Runner', checkpoint: dict) -> None:
        """Store the generators' states in ``checkpoint['rng_state']``.

        Args:
            runner (Runner): the runner.
            checkpoint (dict): the checkpoint being saved.
        """
        checkpoint['rng_state'] = capture_rng_state()

    def after_load_checkpoint(self, runner: 'Runner', checkpoint: dict) -> None:
        """Restore the saved generators' states (see the class doc for which ranks).

        Warns when the checkpoint has no ``rng_state``, and when resuming with persistent
        dataloader workers (their augmentation cannot be restored).

        Args:
            runner (Runner): the runner.
            checkpoint (dict): the loaded checkpoint.
        """
        state = checkpoint.get('rng_state')
        if state is None:
            runner.logger.warning('checkpoint has no rng_state: random draws after resuming '
                                  'will differ from the uninterrupted run')
            return
        diff_rank_seed = (runner.cfg.get('randomness') or {}).get('diff_rank_seed', False)
        if get_rank() == 0 or not diff_rank_seed:
            restore_rng_state(state)
        loader = runner.cfg.get('train_dataloader') or {}
        if (runner.cfg.get('resume') and loader.get('num_workers', 0) > 0
                and loader.get('persistent_workers', False)):
            # mmengine seeds each worker once, when it starts (seed + worker id): persistent
            # workers carry their generators across epochs in the uninterrupted run, but
            # start over in the resumed one
            runner.logger.warning(
                'resuming with persistent dataloader workers: the augmentation after resuming '
                'is drawn from freshly seeded workers, not from where the interrupted run '
                'was (weights, optimizer and schedules are restored exactly). For the '
                'augmentation of the uninterrupted run, set '
                'train_dataloader.persistent_workers=False.')
