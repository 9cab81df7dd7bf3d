"""Import every submodule that registers something, so ``import mmhandmim`` registers all."""
import mmpose.models  # noqa: F401  (fills mmpose's registries before we add to them)
import mmpretrain.models  # noqa: F401

from . import datasets  # noqa: F401,E402
from . import engine  # noqa: F401,E402
from . import hand_model  # noqa: F401,E402
from . import models  # noqa: F401,E402
