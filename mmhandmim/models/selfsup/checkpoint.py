"""Turn a HandMIM pre-training checkpoint into a plain ViT backbone checkpoint.

In the algorithm's state dict the student backbone is ``backbone.*`` and the teacher's is
``teacher.backbone.*``. Downstream, the teacher's weights are the ones fine-tuned (DINO/iBOT
practice). The result has ``backbone.*`` keys (or ``prefix``), without ``mask_token``, and
loads strictly into ``mmpretrain.models.VisionTransformer`` with the same arch.
"""
from typing import Any, Dict

SOURCES = dict(teacher='teacher.backbone.', student='backbone.')


def handmim_to_backbone_state_dict(state_dict: Dict[str, Any], source: str = 'teacher',
                                   prefix: str = 'backbone.') -> Dict[str, Any]:
    """Extract one backbone of a HandMIM state dict as a plain ViT backbone state dict.

    Args:
        state_dict (Dict[str, Any]): the algorithm's state dict (student ``backbone.*``,
            teacher ``teacher.backbone.*``).
        source (str): ``'teacher'`` (the weights fine-tuned downstream) or ``'student'``.
        prefix (str): prefix of the returned keys.

    Returns:
        Dict[str, Any]: the backbone's entries under ``prefix``, without ``mask_token``.

    Raises:
        ValueError: ``source`` is not one of ``SOURCES``.
        KeyError: the state dict has no key of the chosen backbone.
    """
    if source not in SOURCES:
        raise ValueError(f'source must be one of {sorted(SOURCES)}, got {source!r}')
    start = SOURCES[source]
    out = {prefix + k[len(start):]: v for k, v in state_dict.items()
           if k.startswith(start) and k != start + 'mask_token'}
    if not out:
        raise KeyError(f'no "{start}*" keys in the state dict: not a HandMIM checkpoint?')
    return out
