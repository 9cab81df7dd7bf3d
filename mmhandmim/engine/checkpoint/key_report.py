"""One WARNING naming the missing and unexpected keys when loaded weights do not match."""
import functools
import logging
from typing import Optional, Sequence


def describe_key_mismatch(model_name: str, missing: Sequence[str], unexpected: Sequence[str],
                          num_source_keys: Optional[int] = None) -> str:
    """The message that names the missing and unexpected keys of a non-strict load.

    Args:
        model_name (str): name of the model in the message.
        missing (Sequence[str]): keys in the model, not in the checkpoint.
        unexpected (Sequence[str]): keys in the checkpoint, not in the model.
        num_source_keys (int, optional): number of keys of the checkpoint's state dict; when
            all of them are unexpected and some keys are missing, a last line says that
            nothing was loaded.

    Returns:
        str: the message, one line for the counts, then one for each non-empty list.
    """
    lines = [f'loaded weights do not match {model_name} exactly: {len(missing)} missing '
             f'key(s) (in the model, not in the checkpoint), {len(unexpected)} unexpected '
             'key(s) (in the checkpoint, not in the model)']
    if missing:
        lines.append(f'missing ({len(missing)}): {", ".join(missing)}')
    if unexpected:
        lines.append(f'unexpected ({len(unexpected)}): {", ".join(unexpected)}')
    if num_source_keys is not None and num_source_keys == len(unexpected) and missing:
        lines.append('no key of the checkpoint matched: nothing was loaded (check the '
                     "checkpoint and init_cfg's prefix)")
    return '\n'.join(lines)


def _reporting_load_state_dict(original):
    @functools.wraps(original)
    def load_state_dict(module, state_dict, strict=False, logger=None):
        if strict:
            return original(module, state_dict, strict=strict, logger=logger)
        from mmengine.dist import get_dist_info
        from mmengine.logging import print_log
        from mmengine.model import is_model_wrapper
        target = module.module if is_model_wrapper(module) else module
        seen = {}

        def record(_module, incompatible):
            seen['missing'] = list(incompatible.missing_keys)
            seen['unexpected'] = list(incompatible.unexpected_keys)
        handle = target.register_load_state_dict_post_hook(record)
        try:
            original(module, state_dict, strict=False, logger='silent')
        finally:
            handle.remove()
        missing = [k for k in seen.get('missing', []) if 'num_batches_tracked' not in k]
        unexpected = seen.get('unexpected', [])
        if (missing or unexpected) and get_dist_info()[0] == 0:
            print_log(describe_key_mismatch(type(target).__name__, missing, unexpected,
                                            len(state_dict)),
                      logger=logger if logger not in (None, 'silent') else 'current',
                      level=logging.WARNING)
    load_state_dict._mmhandmim_reporting = True
    return load_state_dict
