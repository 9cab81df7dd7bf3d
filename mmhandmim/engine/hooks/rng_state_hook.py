"""Save the random number generators' states in checkpoints and restore them on resume.

mmengine stores only the seed, so a resumed run draws different dropout masks, augmentation
parameters and masks than the uninterrupted run would have. With this hook an epoch-based
run resumed from a checkpoint continues with exactly the generator states it was saved with.
"""
import random

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.registry import HOOKS


def capture_rng_state():
    state = dict(python=random.getstate(), numpy=np.random.get_state(),
                 torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state):
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


# Registered in mmengine's root registry so both mmpretrain- and mmpose-scoped configs find it.
@HOOKS.register_module()
class RNGStateHook(Hook):
    """Checkpoints carry ``rng_state`` (python, numpy, torch, cuda) of rank 0, and
    validation leaves the generators as it found them.

    Checkpoints are written by rank 0 only, so only its generators can be saved. On resume
    every rank restores them when ``randomness.diff_rank_seed`` is off (ranks were seeded
    alike); otherwise only rank 0 does and the others keep their fresh per-rank seeds.
    """

    priority = 'VERY_LOW'

    def __init__(self, isolate_validation=True):
        # Validation draws from the generators too (e.g. the dataloader's base seed), so a
        # run that validated before a checkpoint would continue differently from one resumed
        # from it. Restoring the states after validation keeps training independent of it.
        self.isolate_validation = isolate_validation
        self._before_val = None

    def before_val(self, runner):
        if self.isolate_validation:
            self._before_val = capture_rng_state()

    def after_val(self, runner):
        if self._before_val is not None:
            restore_rng_state(self._before_val)
            self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['rng_state'] = capture_rng_state()

    def after_load_checkpoint(self, runner, checkpoint):
        state = checkpoint.get('rng_state')
        if state is None:
            runner.logger.warning('checkpoint has no rng_state: random draws after resuming '
                                  'will differ from the uninterrupted run')
            return
        diff_rank_seed = (runner.cfg.get('randomness') or {}).get('diff_rank_seed', False)
        if get_rank() == 0 or not diff_rank_seed:
            restore_rng_state(state)
