"""Refuse a checkpoint of the wrong kind before it is loaded, on one line.

* A HandMIM **pre-training** checkpoint (student ``backbone.*``, teacher
  ``teacher.backbone.*``, heads) loaded into a model without a teacher (the mesh model's
  ``load_from``, a backbone's ``init_cfg=dict(type='Pretrained')``) would silently give it
  the *student*'s weights; the teacher is the one to fine-tune, extracted by
  ``tools/model_converters/extract_handmim_backbone.py``.
* ``--resume`` with another config's checkpoint would die inside ``optimizer.load_state_dict``
  (or resume a model half-loaded): the model's keys and shapes and the optimizer's parameter
  groups are compared first.
* ``tools/test.py`` with a checkpoint that leaves weights of the model unloaded (a backbone
  file, a pre-training checkpoint) would score a randomly initialised head.
"""
import re
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...utils.errors import UserInputError

#: the algorithm's keys of the teacher and the student backbone (HandMIM's checkpoint contract)
TEACHER_PREFIX = 'teacher.backbone.'
STUDENT_PREFIX = 'backbone.'
EXTRACT_TOOL = 'tools/model_converters/extract_handmim_backbone.py'
#: how many keys a message names
SHOW = 3


class PretrainingCheckpointError(UserInputError, ValueError):
    """A HandMIM pre-training checkpoint used where backbone or model weights are expected."""


class ResumeMismatchError(UserInputError, ValueError):
    """``--resume`` with a checkpoint another model or optimizer wrote."""


class IncompleteCheckpointError(UserInputError, ValueError):
    """A checkpoint that leaves weights of the model to evaluate unloaded."""


def state_dict_of(checkpoint: Any) -> Dict[str, Any]:
    """The state dict inside ``checkpoint`` (mmengine's ``state_dict`` entry, or itself)."""
    if isinstance(checkpoint, dict) and isinstance(checkpoint.get('state_dict'), dict):
        return checkpoint['state_dict']
    return checkpoint if isinstance(checkpoint, dict) else {}


def _unwrapped(model):
    from mmengine.model import is_model_wrapper
    return model.module if is_model_wrapper(model) else model


def is_pretraining_state(state_dict: Dict[str, Any]) -> bool:
    """Whether ``state_dict`` is a HandMIM algorithm's: student and teacher backbones.

    Args:
        state_dict (Dict[str, Any]): a state dict (keys may carry DDP's ``module.``).

    Returns:
        bool: True when it has both ``backbone.*`` and ``teacher.backbone.*`` keys.
    """
    keys = [re.sub(r'^module\.', '', k) for k in state_dict]
    return (any(k.startswith(TEACHER_PREFIX) for k in keys)
            and any(k.startswith(STUDENT_PREFIX) for k in keys))


def check_not_pretraining(filename: str, checkpoint: Any, model=None,
                          prefix: Optional[str] = None) -> None:
    """Refuse a pre-training checkpoint loaded into a model without a teacher, or through an
    ``init_cfg`` prefix that does not select the teacher.

    Args:
        filename (str): the checkpoint's path, for the message.
        checkpoint (Any): the loaded checkpoint.
        model (nn.Module, optional): the model it is loaded into (a HandMIM model, which has
            a teacher, may load it: resuming or continuing pre-training).
        prefix (str, optional): the ``Pretrained`` init's prefix (``teacher.*`` is allowed).

    Raises:
        PretrainingCheckpointError: it is a pre-training checkpoint used as weights.
    """
    if not is_pretraining_state(state_dict_of(checkpoint)):
        return
    if model is not None:
        target = _unwrapped(model)
        if any(k.startswith(TEACHER_PREFIX) for k in target.state_dict()):
            return
        into = f'into {type(target).__name__}'
    else:
        if (prefix or '').startswith('teacher.'):
            return
        into = f'with init_cfg prefix {prefix!r}'
    raise PretrainingCheckpointError(
        f'{filename} is a HandMIM pre-training checkpoint (student, teacher and heads): '
        f'loading it {into} would take the student backbone, not the teacher. Extract the '
        f'teacher with `python {EXTRACT_TOOL} {filename} OUT.pth` and load OUT.pth instead')


def _revised(state_dict, revise_keys):
    out = dict(state_dict)
    for pattern, repl in revise_keys or ():
        out = {re.sub(pattern, repl, k): v for k, v in out.items()}
    return out


def _shape(value):
    shape = getattr(value, 'shape', None)
    return tuple(shape) if shape is not None else None


def weight_differences(state_dict: Dict[str, Any], model, revise_keys: Sequence = ()
                       ) -> Tuple[List[str], List[str], List[str]]:
    """How ``state_dict`` differs from ``model``'s (``num_batches_tracked`` ignored).

    Args:
        state_dict (Dict[str, Any]): the checkpoint's state dict.
        model (nn.Module): the model (wrappers unwrapped).
        revise_keys (Sequence): mmengine's ``(pattern, replacement)`` key revisions.

    Returns:
        Tuple[List[str], List[str], List[str]]: missing keys (in the model only),
        unexpected keys (in the checkpoint only), and ``'key (saved S, model M)'`` for keys
        whose shapes differ.
    """
    saved = {k: _shape(v) for k, v in _revised(state_dict, revise_keys).items()}
    current = {k: _shape(v) for k, v in _unwrapped(model).state_dict().items()}
    missing = [k for k in current if k not in saved and 'num_batches_tracked' not in k]
    unexpected = [k for k in saved if k not in current and 'num_batches_tracked' not in k]
    reshaped = [f'{k} (saved {list(saved[k])}, model {list(current[k])})' for k in current
                if k in saved and None not in (saved[k], current[k]) and saved[k] != current[k]]
    return missing, unexpected, reshaped


def _first(keys):
    more = f', ... {len(keys) - SHOW} more' if len(keys) > SHOW else ''
    return ', '.join(keys[:SHOW]) + more


def _optimizers(optim_wrapper):
    """{name: torch optimizer} of a built OptimWrapper/OptimWrapperDict (None: not built)."""
    from mmengine.optim import OptimWrapper, OptimWrapperDict
    if isinstance(optim_wrapper, OptimWrapperDict):
        return {k: w.optimizer for k, w in optim_wrapper.optim_wrappers.items()}
    if isinstance(optim_wrapper, OptimWrapper):
        return {'': optim_wrapper.optimizer}
    return None


def optimizer_differences(saved: Any, optim_wrapper) -> List[str]:
    """What keeps ``saved`` (an optimizer state of a checkpoint) from loading into the run's.

    Args:
        saved (Any): ``checkpoint['optimizer']``.
        optim_wrapper: the run's built ``OptimWrapper``/``OptimWrapperDict`` (anything else:
            nothing is compared).

    Returns:
        List[str]: one phrase per difference (group count, group sizes, state shapes).
    """
    optimizers = _optimizers(optim_wrapper)
    if optimizers is None or not isinstance(saved, dict):
        return []
    named = {'': saved} if set(optimizers) == {''} else saved
    problems = []
    for name, optimizer in optimizers.items():
        where = f'optimizer {name!r}' if name else 'optimizer'
        state = named.get(name) if isinstance(named, dict) else None
        if not isinstance(state, dict) or 'param_groups' not in state:
            problems.append(f'{where}: no saved state')
            continue
        problems += _group_differences(where, state, optimizer)
    return problems


def _group_differences(where, state, optimizer):
    groups, current = state['param_groups'], optimizer.param_groups
    if len(groups) != len(current):
        return [f'{where}: {len(groups)} parameter group(s) saved, {len(current)} now']
    sizes = [(len(g['params']), len(c['params'])) for g, c in zip(groups, current)]
    if any(a != b for a, b in sizes):
        return [f'{where}: parameter group sizes {[a for a, _ in sizes]} saved, '
                f'{[b for _, b in sizes]} now']
    problems = []
    for g, c in zip(groups, current):
        for idx, param in zip(g['params'], c['params']):
            for key, value in (state.get('state', {}).get(idx) or {}).items():
                shape = _shape(value)
                if shape and shape != tuple(param.shape):
                    problems.append(f'{where}: state {key!r} of a parameter has shape '
                                    f'{list(shape)}, the parameter {list(param.shape)}')
                    break
    return problems[:SHOW]


def check_resumable(filename: str, checkpoint: Any, model, optim_wrapper,
                    revise_keys: Sequence = ()) -> None:
    """Refuse to resume from a checkpoint that another model or optimizer wrote.

    Args:
        filename (str): the checkpoint's path, for the message.
        checkpoint (Any): the loaded checkpoint.
        model (nn.Module): the run's model.
        optim_wrapper: the run's optimizer wrapper (compared when built).
        revise_keys (Sequence): mmengine's key revisions (DDP's ``module.``).

    Raises:
        ResumeMismatchError: not a training checkpoint, or its model or optimizer differs.
    """
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    if not isinstance(meta, dict) or 'epoch' not in meta or 'iter' not in meta:
        raise ResumeMismatchError(
            f'cannot resume from {filename}: it is not a training checkpoint (no meta.epoch/'
            'meta.iter: a weights-only file?). Resume from a work dir\'s epoch_*.pth/'
            f'iter_*.pth, or start from its weights with --cfg-options load_from={filename} '
            '(without --resume)')
    missing, unexpected, reshaped = weight_differences(state_dict_of(checkpoint), model,
                                                        revise_keys)
    problems = []
    if missing:
        problems.append(f'{len(missing)} model key(s) missing ({_first(missing)})')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s) ({_first(unexpected)})')
    if reshaped:
        problems.append(f'{len(reshaped)} key(s) of another shape ({_first(reshaped)})')
    if not problems:
        problems = optimizer_differences(checkpoint.get('optimizer'), optim_wrapper)
    if problems:
        raise ResumeMismatchError(
            f'cannot resume from {filename}: it was written by another config ('
            f'{"; ".join(problems)}). Resume with the config that wrote it, or start a new '
            f'schedule from its weights with --cfg-options load_from={filename} (without '
            '--resume) in a new --work-dir')


def check_complete(filename: str, checkpoint: Any, model, revise_keys: Sequence = ()) -> None:
    """Refuse a checkpoint that leaves weights of ``model`` unloaded (for evaluation).

    Args:
        filename (str): the checkpoint's path, for the message.
        checkpoint (Any): the loaded checkpoint.
        model (nn.Module): the model to evaluate.
        revise_keys (Sequence): mmengine's key revisions.

    Raises:
        IncompleteCheckpointError: some of the model's keys are not in the checkpoint.
    """
    target = _unwrapped(model)
    missing, _, _ = weight_differences(state_dict_of(checkpoint), target, revise_keys)
    if not missing:
        return
    total, absent = defaultdict(int), defaultdict(int)
    for key in target.state_dict():
        if 'num_batches_tracked' not in key:
            total[key.split('.')[0]] += 1
    for key in missing:
        absent[key.split('.')[0]] += 1
    parts = ', '.join(f'{part}: {n} of {total[part]}' for part, n in absent.items())
    raise IncompleteCheckpointError(
        f'{filename} leaves {len(missing)} of {sum(total.values())} weights of '
        f'{type(target).__name__} unloaded ({parts}; e.g. {_first(missing)}): the test would '
        'score random weights. Give a checkpoint trained with this config (its work dir\'s '
        'epoch_*.pth or best_*.pth)')
