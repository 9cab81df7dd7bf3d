"""Each run-time fix in mmhandmim.compat: it repairs its problem, and is a no-op without it."""
import os
import subprocess
import sys
import types

import pytest

from mmhandmim import compat

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_py(code):
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_stack_imports_after_compat():
    # the acceptance command of the install, in a fresh interpreter
    res = run_py('import mmhandmim, mmpose.models, mmpretrain.models; '
                 'from mmengine.utils.dl_utils import collect_env; collect_env(); '
                 'import torchvision; print("ok")')
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().endswith('ok')


# --- 1. torchvision ----------------------------------------------------------------------
def test_torchvision_fix_recognises_only_its_error():
    assert compat._torchvision_needs_fix(
        RuntimeError('operator torchvision::nms does not exist'))
    assert not compat._torchvision_needs_fix(ImportError('No module named torchvision'))
    assert not compat._torchvision_needs_fix(RuntimeError('something else'))


def test_torchvision_fix_is_noop_when_import_works(monkeypatch):
    import torchvision  # already importable in this process (fixed or not)
    applied = list(compat.APPLIED)
    assert compat.fix_torchvision() is False
    assert compat.APPLIED == applied
    assert sys.modules['torchvision'] is torchvision  # not re-imported


def test_torchvision_fix_defines_op_schemas_when_needed():
    # in this environment (CPU torch + CUDA torchvision wheel) the fix is applied at import
    res = run_py('import mmhandmim.compat as c; import torch, torchvision;'
                 'print(c.APPLIED); print(torch.ops.torchvision.nms)')
    assert res.returncode == 0, res.stderr[-2000:]
    import torchvision
    if 'torchvision' in compat.APPLIED:
        assert "'torchvision'" in res.stdout
    else:  # a torchvision with working ops: nothing to fix, nothing done
        assert "'torchvision'" not in res.stdout.splitlines()[0]
    assert torchvision.transforms is not None


# --- 2. mmcv.ops -------------------------------------------------------------------------
def test_mmcv_ops_stub_raises_clear_error_on_use():
    import mmpose.models  # noqa: F401  (the import the fix exists for)
    try:
        import mmcv._ext  # noqa: F401
        pytest.skip('full mmcv with compiled ops is installed: the stub is not in use')
    except ImportError:
        pass
    from mmcv.ops import MultiScaleDeformableAttention
    with pytest.raises(RuntimeError, match='mmcv-lite'):
        MultiScaleDeformableAttention(embed_dims=8)


def test_mmcv_ops_fix_is_noop_when_ops_import(monkeypatch):
    fake = types.ModuleType('mmcv.ops')
    monkeypatch.setitem(sys.modules, 'mmcv.ops', fake)
    applied = list(compat.APPLIED)
    assert compat.fix_mmcv_ops() is False
    assert sys.modules['mmcv.ops'] is fake and compat.APPLIED == applied


def test_mmcv_ops_fix_reraises_unrelated_import_errors(monkeypatch):
    monkeypatch.delitem(sys.modules, 'mmcv.ops', raising=False)
    real_import = compat.importlib.import_module

    def broken(name, *a, **k):
        if name == 'mmcv.ops':
            raise ImportError('No module named scipy')
        return real_import(name, *a, **k)

    monkeypatch.setattr(compat.importlib, 'import_module', broken)
    with pytest.raises(ImportError, match='scipy'):
        compat.fix_mmcv_ops()


# --- 3. distributed on CPU -----------------------------------------------------------------
def _cfg(**kw):
    from mmengine.config import Config
    return Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl')), **kw))


def test_cpu_distributed_noop_without_launcher():
    cfg = _cfg(launcher='none')
    assert compat.init_cpu_distributed(cfg) is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_cpu_distributed_noop_with_gpu(monkeypatch):
    monkeypatch.setattr(compat, 'cuda_usable', lambda: True)
    cfg = _cfg(launcher='pytorch')
    assert compat.init_cpu_distributed(cfg) is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl' and 'model_wrapper_cfg' not in cfg


def test_cpu_distributed_sets_gloo_without_gpu(monkeypatch, tmp_path):
    import torch.distributed as dist
    monkeypatch.setattr(compat, 'cuda_usable', lambda: False)
    for k, v in dict(RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                     MASTER_PORT='29731').items():
        monkeypatch.setenv(k, v)
    cfg = _cfg(launcher='pytorch')
    try:
        assert compat.init_cpu_distributed(cfg) is True
        assert dist.is_initialized() and dist.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg == dict(type='MMDistributedDataParallel',
                                             device_ids=None, broadcast_buffers=False)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
