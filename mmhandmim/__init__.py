"""mmhandmim: HandMIM pre-training and MANO mesh estimation as an OpenMMLab plugin.

Importing the package applies the stack's run-time fixes (``compat``) first, then registers
every module into mmpretrain's (pre-training) and mmpose's (fine-tuning) registries.

``MMHANDMIM_LIGHT_IMPORT=1`` skips both, for numpy-only tools that must start fast (the
standalone evaluator): importing mmpose/mmpretrain costs ~10 s on a 2-core machine.
"""
import os

from .version import __version__  # noqa: F401

if os.environ.get('MMHANDMIM_LIGHT_IMPORT') != '1':
    from . import compat  # noqa: F401  (before anything imports mmengine/mmcv)
    from . import registration  # noqa: F401
