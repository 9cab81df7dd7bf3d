"""Import every submodule that registers something, so ``import mmhandmim`` registers all,
and install the run-wide checkpoint safety (``engine.checkpoint``).

Pre-training modules go to mmpretrain's registries, fine-tuning modules (hand model, mesh
datasets and transforms, estimator, head, losses, metric) to mmpose's; generic hooks to
mmengine's root registry, which both hosts' registries fall back to.
"""
import mmpose.models  # noqa: F401  (fills mmpose's registries before we add to them)
import mmpretrain.models  # noqa: F401

from . import datasets  # noqa: F401,E402
from . import engine  # noqa: F401,E402
from . import evaluation  # noqa: F401,E402
from .hand_model import mano_layer  # noqa: F401,E402  (registers MANOLayer)
from . import models  # noqa: F401,E402
from . import standin  # noqa: F401,E402  (registers model_path='standin')
from .engine.checkpoint import install as _install_checkpoint_safety  # noqa: E402
from .evaluation import metrics  # noqa: F401,E402

_install_checkpoint_safety()
