"""mmengine's three ways of loading weights, with the checks of ``kinds`` before the weights
reach the model: ``Runner.load_checkpoint`` (``load_from``, ``--resume``, ``tools/test.py``),
``load_checkpoint`` (``Pretrained`` init without a prefix, inference) and
``_load_checkpoint_with_prefix`` (``Pretrained`` init with a prefix).

Each replacement does what mmengine 0.10's function does, with the check inserted where the
loaded checkpoint and its destination are both known.
"""
import functools

from .kinds import check_complete, check_not_pretraining, check_resumable

#: a Runner attribute: True while ``Runner.resume`` runs
_RESUMING = '_mmhandmim_resuming'
#: a Runner attribute set by :func:`require_complete_weights`
_COMPLETE = '_mmhandmim_complete_weights'
_DEFAULT_REVISE = [(r'^module.', '')]


def require_complete_weights(runner) -> None:
    """Make ``runner`` refuse a ``load_from`` checkpoint that leaves weights of its model
    unloaded (``tools/test.py``: a random head would be scored).

    Args:
        runner (Runner): the runner.
    """
    setattr(runner, _COMPLETE, True)


def runner_load_checkpoint(self, filename, map_location='cpu', strict=False,
                           revise_keys=_DEFAULT_REVISE):
    """``Runner.load_checkpoint`` refusing checkpoints of the wrong kind (see ``kinds``)."""
    from mmengine.model import is_model_wrapper
    from mmengine.runner import runner as runner_mod

    checkpoint = runner_mod._load_checkpoint(filename, map_location=map_location)
    self.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    model = self.model.module if is_model_wrapper(self.model) else self.model
    check_not_pretraining(filename, checkpoint, model=model)
    if getattr(self, _RESUMING, False):
        check_resumable(filename, checkpoint, model, self.optim_wrapper, revise_keys)
    elif getattr(self, _COMPLETE, False):
        check_complete(filename, checkpoint, model, revise_keys)
    checkpoint = runner_mod._load_checkpoint_to_model(model, checkpoint, strict,
                                                      revise_keys=revise_keys)
    self._has_loaded = True
    self.logger.info(f'Load checkpoint from {filename}')
    return checkpoint


runner_load_checkpoint._mmhandmim_checked = True


def resuming(original):
    """Wrap ``Runner.resume`` so its ``load_checkpoint`` knows it resumes."""
    @functools.wraps(original)
    def resume(self, filename, *args, **kwargs):
        setattr(self, _RESUMING, True)
        try:
            return original(self, filename, *args, **kwargs)
        finally:
            setattr(self, _RESUMING, False)
    resume._mmhandmim_checked = True
    return resume


def load_checkpoint(model, filename, map_location=None, strict=False, logger=None,
                    revise_keys=_DEFAULT_REVISE):
    """mmengine's ``load_checkpoint`` refusing a pre-training checkpoint for ``model``."""
    from mmengine.runner import checkpoint as ckpt_mod
    checkpoint = ckpt_mod._load_checkpoint(filename, map_location, logger)
    if not isinstance(checkpoint, dict):
        raise RuntimeError(f'No state_dict found in checkpoint file {filename}')
    check_not_pretraining(filename, checkpoint, model=model)
    return ckpt_mod._load_checkpoint_to_model(model, checkpoint, strict, logger, revise_keys)


load_checkpoint._mmhandmim_checked = True


def load_checkpoint_with_prefix(prefix, filename, map_location=None):
    """mmengine's ``_load_checkpoint_with_prefix`` refusing a pre-training checkpoint whose
    ``prefix`` would select the student."""
    from mmengine.runner import checkpoint as ckpt_mod
    checkpoint = ckpt_mod._load_checkpoint(filename, map_location=map_location)
    check_not_pretraining(filename, checkpoint, prefix=prefix)
    state_dict = checkpoint.get('state_dict', checkpoint)
    if not prefix.endswith('.'):
        prefix += '.'
    state_dict = {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}
    assert state_dict, f'{prefix} is not in the pretrained model'
    return state_dict


load_checkpoint_with_prefix._mmhandmim_checked = True


def install_checked_loading():
    """Put the functions above in place (idempotent); returns the names of those applied."""
    import mmengine.runner as runner_pkg
    import mmengine.runner.checkpoint as ckpt_mod
    from mmengine.runner import Runner

    applied = []
    if not getattr(Runner.load_checkpoint, '_mmhandmim_checked', False):
        Runner.load_checkpoint = runner_load_checkpoint
        applied.append('checked_runner_load')
    if not getattr(Runner.resume, '_mmhandmim_checked', False):
        Runner.resume = resuming(Runner.resume)
        applied.append('checked_resume')
    if not getattr(ckpt_mod.load_checkpoint, '_mmhandmim_checked', False):
        for mod in (ckpt_mod, runner_pkg):
            mod.load_checkpoint = load_checkpoint
        applied.append('checked_load_checkpoint')
    if not getattr(ckpt_mod._load_checkpoint_with_prefix, '_mmhandmim_checked', False):
        ckpt_mod._load_checkpoint_with_prefix = load_checkpoint_with_prefix
        applied.append('checked_prefix_load')
    return applied
