"""Mixed precision written into the configs (as mmpretrain does): the pre-training configs
declare AmpOptimWrapper (float16, dynamic loss scale); the fine-tuning configs stay float32.
tools/train.py turns a declared AmpOptimWrapper into a float32 OptimWrapper with the same
optimizer settings when no CUDA device is usable (one printed line), and keeps ``--amp`` as it
was (now with ``--amp-dtype``)."""
import glob
import importlib.util
import os.path as osp
import sys

import pytest
import torch
from mmengine import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(ROOT, 'configs')
PRETRAIN = ['handmim_vit-s.py', 'handmim_vit-b.py', 'handmim_vit-l.py'] + sorted(
    osp.relpath(p, CONFIGS) for p in glob.glob(osp.join(CONFIGS, 'handmim', '*.py')))
MESH = sorted(osp.relpath(p, CONFIGS) for p in glob.glob(osp.join(CONFIGS, 'mesh', '*.py')))
DEMO = ['demo/handmim_vit-tiny_demo.py', 'demo/mesh_vit-tiny_freihand_demo.py']


def load(rel):
    return Config.fromfile(osp.join(CONFIGS, rel))


@pytest.fixture(scope='module')
def train_tool():
    """tools/train.py as a module (its ``import _bootstrap`` needs tools/ on sys.path only
    while it is imported: tools/test.py would shadow the standard library's ``test``)."""
    tools = osp.join(ROOT, 'tools')
    sys.path.insert(0, tools)
    try:
        spec = importlib.util.spec_from_file_location('mmhandmim_tools_train',
                                                      osp.join(tools, 'train.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(tools)
    return module


@pytest.mark.parametrize('rel', PRETRAIN + DEMO[:1])
def test_pretraining_configs_declare_amp(rel):
    ow = load(rel).optim_wrapper
    assert ow.type == 'AmpOptimWrapper'
    assert ow.loss_scale == 'dynamic' and ow.dtype == 'float16'
    assert ow.optimizer.type == 'AdamW' and ow.clip_grad == dict(max_norm=3.0)


@pytest.mark.parametrize('rel', MESH + DEMO[1:])
def test_finetuning_configs_stay_float32(rel):
    # the fine-tuning schedule declares no wrapper type: OptimWrapper (mmengine's default)
    assert load(rel).optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'


def _no_amp_device(monkeypatch, module, usable=False):
    monkeypatch.setattr(module, 'amp_usable', lambda: usable)


def test_without_amp_keeps_optimizer_settings(train_tool, monkeypatch):
    """Same optimizer, lr, betas, weight decay, clipping and paramwise groups; only the
    AMP-only arguments go. Compared on built wrappers (AmpOptimWrapper's device check
    patched, as tests/test_engine/test_finite_loss.py does)."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    from mmengine.optim import build_optim_wrapper
    ow = load('handmim_vit-s.py').optim_wrapper
    fp32 = train_tool.without_amp(ow)
    assert fp32.type == 'OptimWrapper' and ow.type == 'AmpOptimWrapper'  # input untouched
    assert {k: v for k, v in fp32.items() if k != 'type'} == {
        k: v for k, v in ow.items() if k not in ('type', 'loss_scale', 'dtype')}

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pos_embed = torch.nn.Parameter(torch.zeros(1, 4, 8))
            self.proj = torch.nn.Linear(8, 8)
            self.norm = torch.nn.LayerNorm(8)

    model = Tiny()
    plain = build_optim_wrapper(model, fp32)
    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    mixed = build_optim_wrapper(model, ow)
    assert type(plain).__name__ == 'OptimWrapper' and type(mixed).__name__ == 'AmpOptimWrapper'
    assert type(plain.optimizer) is type(mixed.optimizer) is torch.optim.AdamW
    assert plain.clip_grad_kwargs == mixed.clip_grad_kwargs == dict(max_norm=3.0)

    def groups(w):
        return [({k: v for k, v in g.items() if k != 'params'}, [id(p) for p in g['params']])
                for g in w.optimizer.param_groups]

    assert groups(plain) == groups(mixed)
    assert {g['weight_decay'] for g in plain.optimizer.param_groups} == {0.0, 0.04}


def _merged(train_tool, rel, *argv):
    cfg = load(rel)
    args = train_tool.parse_args([osp.join(CONFIGS, rel), *argv])
    return train_tool.merge_args(cfg, args)


def test_declared_amp_falls_back_on_cpu_with_one_line(train_tool, monkeypatch, capsys):
    _no_amp_device(monkeypatch, train_tool)
    monkeypatch.delenv('RANK', raising=False)
    cfg = _merged(train_tool, 'demo/handmim_vit-tiny_demo.py')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper and 'dtype' not in cfg.optim_wrapper
    assert cfg.optim_wrapper.optimizer.lr == 1e-3  # the demo's own override survives
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and 'AmpOptimWrapper -> OptimWrapper' in out[0]
    # other ranks of a CPU (gloo) launch fall back silently
    monkeypatch.setenv('RANK', '1')
    assert _merged(train_tool, 'handmim_vit-s.py').optim_wrapper.type == 'OptimWrapper'
    assert capsys.readouterr().out == ''


def test_declared_amp_is_kept_with_a_gpu(train_tool, monkeypatch, capsys):
    _no_amp_device(monkeypatch, train_tool, usable=True)
    ow = _merged(train_tool, 'handmim_vit-s.py').optim_wrapper
    assert dict(ow) == dict(load('handmim_vit-s.py').optim_wrapper)
    ow = _merged(train_tool, 'handmim_vit-s.py', '--amp-dtype', 'bfloat16').optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.dtype == 'bfloat16'
    assert capsys.readouterr().out == ''


def test_amp_flag_as_before(train_tool, monkeypatch):
    _no_amp_device(monkeypatch, train_tool, usable=True)
    rel = 'mesh/handmim-s_pymaf_freihand.py'
    ow = _merged(train_tool, rel, '--amp').optim_wrapper
    assert ow.type == 'AmpOptimWrapper' and ow.loss_scale == 'dynamic' and 'dtype' not in ow
    ow = _merged(train_tool, rel, '--amp-dtype', 'bfloat16').optim_wrapper  # implies --amp
    assert ow.type == 'AmpOptimWrapper' and ow.dtype == 'bfloat16'
    assert _merged(train_tool, rel).optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper'

    cfg = load(rel)
    cfg.optim_wrapper.type = 'SomeOtherWrapper'
    with pytest.raises(train_tool.UserInputError, match='--amp needs optim_wrapper.type'):
        train_tool.merge_args(cfg, train_tool.parse_args([rel, '--amp']))


def test_amp_flag_without_a_gpu_is_a_clear_error(train_tool, monkeypatch):
    """Asked for explicitly, AMP is not silently dropped (mmengine would assert later)."""
    _no_amp_device(monkeypatch, train_tool)
    for rel in ('mesh/handmim-s_pymaf_freihand.py', 'handmim_vit-s.py'):
        with pytest.raises(train_tool.UserInputError, match='need a CUDA device'):
            _merged(train_tool, rel, '--amp')
