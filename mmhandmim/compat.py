"""Run-time fixes the pinned OpenMMLab stack needs on today's torch.

Each fix is applied only when its problem is present, so on a machine with a working CUDA
torch and full mmcv they do nothing. This module must be imported before
mmengine/mmcv/mmpose/mmpretrain; ``mmhandmim/__init__.py``, ``tests/conftest.py`` and every
entry point under ``tools/`` import it first. It imports nothing from the package.

Fault tolerance that every run should have (atomic checkpoint saves, safe loading, which
also covers torch's ``weights_only`` default) is not a stack repair: it lives in
``mmhandmim.engine.checkpoint`` and ``import mmhandmim`` installs it.

See README "Installation" for why each fix exists (measured on the pinned stack).
"""
import importlib
import os
import sys
import types
import warnings

import torch

#: names of the fixes that were applied in this process (for logs and tests)
APPLIED = []


# --- 1. torchvision beside a CPU torch --------------------------------------------------
def _torchvision_needs_fix(exc: BaseException) -> bool:
    return isinstance(exc, RuntimeError) and 'torchvision::nms' in str(exc)


def fix_torchvision():
    """Make ``import torchvision`` work when its C++ ops cannot load.

    The torchvision wheel built for a CUDA torch raises ``operator torchvision::nms does not
    exist`` on a CPU torch. mmengine imports torchvision while collecting the environment and
    only catches ImportError, so every Runner would fail. Defining the op schemas (without
    kernels) lets the pure-Python part import; nms/roi_align stay unusable (not needed here).
    """
    try:
        import torchvision  # noqa: F401
        return False
    except Exception as exc:  # noqa: BLE001 - inspected below
        if not _torchvision_needs_fix(exc):
            return False
    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        del sys.modules[name]
    lib = torch.library.Library('torchvision', 'FRAGMENT')  # noqa: F841 - kept alive below
    lib.define('nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    lib.define('qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    fix_torchvision._lib = lib  # the schemas live as long as the Library object
    importlib.import_module('torchvision')
    APPLIED.append('torchvision')
    return True


# --- 2. mmcv-lite has no compiled ops ------------------------------------------------------
class _MissingMMCVOp:
    """Placeholder for an mmcv op that needs the compiled ``mmcv._ext``."""

    _op_name = 'op'

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f'mmcv.ops.{self._op_name} needs mmcv with compiled ops (mmcv._ext), but '
            'mmcv-lite is installed. mmhandmim does not use it; to use it, install the full '
            'mmcv built for your CUDA torch (see README "Installation").')


class _MissingOpsModule(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith('__'):
            raise AttributeError(name)
        cls = type(name, (_MissingMMCVOp,), {'_op_name': name})
        setattr(self, name, cls)
        return cls


def fix_mmcv_ops():
    """Put a stand-in ``mmcv.ops`` in place when the real one cannot be imported.

    ``mmpose.models`` imports ``mmcv.ops.MultiScaleDeformableAttention`` at module level (the
    EDPose head); with mmcv-lite that import fails and takes all of mmpose's models with it.
    The stand-in's classes raise a clear error only when instantiated.
    """
    if 'mmcv.ops' in sys.modules:
        return False
    try:
        importlib.import_module('mmcv.ops')
        return False
    except ImportError as exc:
        if '_ext' not in str(exc):
            raise
    sys.modules.pop('mmcv.ops', None)
    stub = _MissingOpsModule('mmcv.ops', 'mmhandmim stand-in: mmcv compiled ops are absent')
    stub.__path__ = []  # a package, so `from mmcv.ops.x import y` fails cleanly
    sys.modules['mmcv.ops'] = stub
    import mmcv
    mmcv.ops = stub
    # mmcv.cnn warns about the same absence on import; the stub's error says it when it matters
    warnings.filterwarnings('ignore', message='Fail to import ``MultiScaleDeformableAttention')
    APPLIED.append('mmcv_ops')
    return True


# --- 3. distributed launch without a usable GPU ---------------------------------------------
def cuda_usable() -> bool:
    try:
        return torch.cuda.is_available() and torch.cuda.device_count() > 0
    except Exception:  # noqa: BLE001 - a broken CUDA build counts as no CUDA
        return False


def init_cpu_distributed(cfg) -> bool:
    """Initialise gloo for a torchrun/Slurm launch on a machine without a GPU.

    mmengine's launcher calls ``torch.cuda.set_device``, which fails on a CPU torch (and on a
    CUDA build without a driver). When no GPU is usable we start the process group ourselves
    (the Runner then skips its own setup) and switch the config's DDP wrapper and backend to
    their CPU forms. With a GPU this does nothing and the config is left untouched.
    Returns True when it initialised the process group.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or cuda_usable():
        return False
    import torch.distributed as dist
    if launcher == 'slurm':
        _slurm_env_to_torch_env()
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper.update(device_ids=None, broadcast_buffers=False)
    cfg.model_wrapper_cfg = wrapper
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'gloo'
    env_cfg['dist_cfg'] = dist_cfg
    cfg.env_cfg = env_cfg
    APPLIED.append('cpu_distributed')
    return True


def _slurm_env_to_torch_env():
    """Translate Slurm's variables to the ones ``init_process_group('env://')`` reads."""
    env = os.environ
    env.setdefault('RANK', env.get('SLURM_PROCID', '0'))
    env.setdefault('WORLD_SIZE', env.get('SLURM_NTASKS', '1'))
    env.setdefault('LOCAL_RANK', env.get('SLURM_LOCALID', '0'))
    env.setdefault('MASTER_PORT', '29500')
    if 'MASTER_ADDR' not in env:
        nodelist = env.get('SLURM_NODELIST', '127.0.0.1')
        import subprocess
        try:
            addr = subprocess.getoutput(f'scontrol show hostname {nodelist} | head -n1')
        except OSError:
            addr = ''
        env['MASTER_ADDR'] = addr.strip() or '127.0.0.1'


# --- 4. `mmhandmim::` config paths -------------------------------------------------------
def fix_mim_config_paths():
    """Let configs inherit ours as ``_base_ = ['mmhandmim::mesh/handmim-s_pymaf_freihand.py']``.

    mmengine 0.10 resolves ``pkg::path`` only for the packages it lists (``MODULE2PACKAGE``
    in ``mmengine.config.utils``), finds a package through its distribution's location
    (site-packages for a PEP 660 editable install like ``make install``'s: no ``mmhandmim/``
    there), and wants a ``/`` in the path (no top-level ``mmhandmim::handmim_vit-s.py``). We
    resolve ``mmhandmim::`` ourselves, in the ``.mim/configs`` that setup.py makes, and give
    the base no scope: mmhandmim's modules live in mmpretrain's and mmpose's registries (the
    configs' ``default_scope``), and ``_scope_='mmhandmim'`` would find none. Other
    packages' paths still go to mmengine.
    """
    from mmengine.config import Config

    original = Config._get_cfg_path
    if getattr(original, 'mmhandmim', False):
        return False
    mim_configs = os.path.join(os.path.dirname(os.path.abspath(__file__)), '.mim', 'configs')

    def _get_cfg_path(cfg_path, filename):
        package, sep, rel = cfg_path.partition('::')
        if not (sep and package == 'mmhandmim'):
            return original(cfg_path, filename)
        path = os.path.join(mim_configs, rel)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f'{cfg_path!r}: {path} does not exist (mmhandmim/.mim is made by installing '
                'the package: `make install` or `pip install [-e] .`)')
        return path, None

    _get_cfg_path.mmhandmim = True
    Config._get_cfg_path = staticmethod(_get_cfg_path)
    APPLIED.append('mim_config_paths')
    return True


def apply_all():
    """Apply every import-time fix that is needed (idempotent)."""
    fix_torchvision()
    fix_mmcv_ops()
    fix_mim_config_paths()


apply_all()
