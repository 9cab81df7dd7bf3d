"""Building the mmengine Runner the tools run."""
from typing import TYPE_CHECKING

from ..compat import init_cpu_distributed

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner


def build_runner(cfg: 'Config') -> 'Runner':
    """The Runner for ``cfg``, after the CPU-distributed set-up the stack needs (compat).

    Args:
        cfg (Config): the run's config; with ``runner_type`` the runner is built from the
            ``RUNNERS`` registry, else with ``Runner.from_cfg``. Its DDP wrapper and backend
            may be switched to their CPU forms (see ``compat.init_cpu_distributed``).

    Returns:
        Runner: the runner.
    """
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    init_cpu_distributed(cfg)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
