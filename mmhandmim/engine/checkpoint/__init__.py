"""Checkpoint safety for mmengine runs: atomic saves, auto-resume that never picks a broken
file, safe loading of checkpoints from elsewhere, and visible key mismatches.

``install()`` applies all of it to mmengine; ``import mmhandmim`` calls it (``registration``),
so every entry point, config (``custom_imports=['mmhandmim']``) and test gets it.

Saving (a kill at any moment leaves a resumable work dir):

* ``LocalBackend.put`` (through which ``mmengine.runner.checkpoint.save_checkpoint`` writes
  every local checkpoint) writes to a hidden temporary file in the same folder, fsyncs it and
  ``os.replace``\\ s it onto the final name, so a file named ``epoch_N.pth`` is always complete.
  Patching the backend rather than ``save_checkpoint`` catches every importer of that
  function (``Runner``, ``CheckpointHook``'s publishing) with one patch.
* ``CheckpointHook`` removes the oldest checkpoint (``max_keep_ckpts``) and the previous best
  one *before* writing the new one; with ``max_keep_ckpts=1`` a kill during the save would leave
  no checkpoint at all. Its removals are deferred until the new checkpoint and
  ``last_checkpoint`` are written. (A kill between the two leaves one extra old file behind.)
* Auto-resume (``--resume`` without a path) reads ``last_checkpoint``; when it is missing,
  empty, names a missing file, or a truncated one (written by something else than this
  patched backend), the newest complete ``epoch_*.pth``/``iter_*.pth`` of the work dir is
  used instead, with a warning.

Loading (``CheckpointLoader``'s local-file scheme, used by ``load_from``, ``--resume`` and
``init_cfg=dict(type='Pretrained')``):

1. a file holding only tensors and plain containers (an extracted backbone, most released
   weights) is read with ``torch.load(weights_only=True)``;
2. an mmengine training checkpoint also holds ``HistoryBuffer``\\ s and numpy arrays (message
   hub, RNG states, dataset metainfo): it is still read with ``weights_only=True``, allowing
   exactly those classes (``TRAINING_CHECKPOINT_GLOBALS``) and logging a note;
3. anything else (unknown pickled globals) is refused with an ``UnsafeCheckpointError`` that
   lists them, unless the file is trusted: the checkpoint auto-resume found in the run's own
   work dir, or any file when ``MMHANDMIM_TRUST_CHECKPOINTS=1`` is set. Trusted files are
   unpickled fully (which can run code stored in the file), with a warning.

Loading a state dict that does not match the model (``strict=False``, as ``Pretrained``
init does) logs one WARNING with the numbers and names of missing and unexpected keys.

Checkpoints of the wrong kind are refused on one line before they reach the model (``kinds``,
``checked_loading``): a HandMIM pre-training checkpoint used as a model's or a backbone's
weights (it would give the student), ``--resume`` with a checkpoint another config wrote, and
(``tools/test.py``) a checkpoint that leaves weights of the model unloaded.
"""
from typing import List

from .checked_loading import install_checked_loading, require_complete_weights
from .key_report import _reporting_load_state_dict, describe_key_mismatch
from .kinds import (IncompleteCheckpointError, PretrainingCheckpointError,
                    ResumeMismatchError, is_pretraining_state)
from .loading import (TRAINING_CHECKPOINT_GLOBALS, TRUST_ENV, CorruptCheckpointError,
                      UnsafeCheckpointError, load_checkpoint_file, load_local_checkpoint,
                      mark_trusted, safe_loading_supported)
from .resume import find_latest_checkpoint, is_complete_checkpoint
from .saving import _atomic_put, _deferring_removals

__all__ = [
    'describe_key_mismatch', 'TRAINING_CHECKPOINT_GLOBALS', 'TRUST_ENV',
    'CorruptCheckpointError', 'UnsafeCheckpointError', 'load_checkpoint_file',
    'load_local_checkpoint', 'mark_trusted', 'safe_loading_supported',
    'find_latest_checkpoint', 'is_complete_checkpoint', 'install', 'require_complete_weights',
    'IncompleteCheckpointError', 'PretrainingCheckpointError', 'ResumeMismatchError',
    'is_pretraining_state'
]


def install() -> List[str]:
    """Apply the patches above to mmengine (idempotent).

    Returns:
        List[str]: the names of the patches applied now (empty when all were applied
        before).
    """
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt_mod
    import mmengine.runner.runner as runner_mod
    from mmengine.fileio.backends.local_backend import LocalBackend
    from mmengine.hooks import CheckpointHook

    applied = []
    if not getattr(LocalBackend.put, '_mmhandmim_atomic', False):
        LocalBackend.put = _atomic_put(LocalBackend.put)
        applied.append('atomic_put')
    for name in ('_save_checkpoint_with_step', '_save_best_checkpoint'):
        method = getattr(CheckpointHook, name, None)
        if method is not None and not getattr(method, '_mmhandmim_deferred', False):
            setattr(CheckpointHook, name, _deferring_removals(method))
            applied.append(f'deferred_removal{name}')
    if ckpt_mod.find_latest_checkpoint is not find_latest_checkpoint:
        for mod in (ckpt_mod, runner_mod, runner_pkg):
            if hasattr(mod, 'find_latest_checkpoint'):
                mod.find_latest_checkpoint = find_latest_checkpoint
        applied.append('find_latest_checkpoint')
    if not getattr(ckpt_mod.load_state_dict, '_mmhandmim_reporting', False):
        patched = _reporting_load_state_dict(ckpt_mod.load_state_dict)
        for mod in (ckpt_mod, runner_pkg):
            mod.load_state_dict = patched
        applied.append('key_report')
    # also on torch without safe loading: the loader then unpickles fully, as mmengine's,
    # and still turns missing and unreadable files into one clear line
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is not load_local_checkpoint:
        CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
        applied.append('safe_loading')
    applied += install_checked_loading()
    return applied
