"""Building the mmengine Runner the tools run."""
from typing import TYPE_CHECKING

from ..compat import init_cpu_distributed
from .checkpoint import require_complete_weights

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner

#: hooks every training run built here gets (see each hook's doc)
RUN_CONTROL_HOOKS = ('ResumeValidationHook', )


def start_distributed(cfg: 'Config') -> None:
    """Initialise the process group of ``cfg.launcher`` now, as the Runner would later.

    The ranks can then agree on things (the work dir lock) before the Runner writes to the
    work dir. Does nothing for ``launcher='none'`` or when the group exists.

    Args:
        cfg (Config): the run's config (its ``env_cfg`` ``mp_cfg`` and ``dist_cfg`` are
            used as ``Runner.setup_env`` uses them; see ``compat.init_cpu_distributed`` for
            machines without a GPU).
    """
    if cfg.get('launcher', 'none') == 'none' or init_cpu_distributed(cfg):
        return
    from mmengine.dist import init_dist, is_distributed
    from mmengine.utils.dl_utils import set_multi_processing
    if is_distributed():
        return
    env_cfg = cfg.get('env_cfg') or {}
    set_multi_processing(**(env_cfg.get('mp_cfg') or {}), distributed=True)
    init_dist(cfg.launcher, **(env_cfg.get('dist_cfg') or {}))


def _add_run_control_hooks(cfg):
    if not cfg.get('train_cfg'):
        return
    hooks = list(cfg.get('custom_hooks') or [])
    have = {str(h.get('type')).split('.')[-1] for h in hooks if isinstance(h, dict)}
    hooks += [dict(type=name) for name in RUN_CONTROL_HOOKS if name not in have]
    cfg.custom_hooks = hooks


def build_runner(cfg: 'Config', complete_weights: bool = False) -> 'Runner':
    """The Runner for ``cfg``, after the CPU-distributed set-up the stack needs (compat).

    Args:
        cfg (Config): the run's config; with ``runner_type`` the runner is built from the
            ``RUNNERS`` registry, else with ``Runner.from_cfg``. Its DDP wrapper and backend
            may be switched to their CPU forms (see ``compat.init_cpu_distributed``); a
            config with ``train_cfg`` gets the ``RUN_CONTROL_HOOKS``.
        complete_weights (bool): refuse a ``load_from`` checkpoint that leaves weights of
            the model unloaded (``tools/test.py``).

    Returns:
        Runner: the runner.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    init_cpu_distributed(cfg)
    _add_run_control_hooks(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    if complete_weights:
        require_complete_weights(runner)
    return runner
