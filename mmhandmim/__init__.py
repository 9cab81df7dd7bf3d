"""mmhandmim: HandMIM pre-training and MANO mesh estimation as an OpenMMLab plugin.

Importing the package applies the stack's run-time fixes (``compat``) first, then registers
every module into mmpretrain's (pre-training) and mmpose's (fine-tuning) registries.
"""
from . import compat  # noqa: F401  (must stay first)
from .version import __version__  # noqa: F401
from . import registration  # noqa: F401,E402
