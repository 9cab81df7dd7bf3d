"""Fused optimizers and activation checkpointing.

The schedules ask for torch's fused Adam/AdamW (torch 2.13 has them on CUDA and CPU, so CPU
runs keep them): every paper config builds an optimizer with ``fused=True``, through
mmengine's constructors and through tools/train.py's CPU fallback, and the fused steps equal
the for-loop ones (clipping, paramwise groups, GradScaler's unscale and inf/NaN skip).

``CheckpointedViT``/``HandMIMViT(with_cp=True)`` recompute each block in the backward pass:
outputs and gradients equal those without it (drop-path on: the RNG state is restored), one
``torch.utils.checkpoint`` call per block in training only, and less is saved for backward.
"""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from mmpretrain.models import VisionTransformer
from torch import nn

from mmhandmim.models.selfsup.vit import CheckpointedViT, HandMIMViT

from .test_amp_configs import CONFIGS, DEMO, MESH, PRETRAIN, load, train_tool  # noqa: F401

ARCH = dict(embed_dims=48, num_layers=4, num_heads=3, feedforward_channels=96)


class TinyViTLike(nn.Module):
    """Parameter names of a ViT estimator (layer decay reads the depth from them)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Module()
        self.backbone.pos_embed = nn.Parameter(torch.randn(1, 4, 8) * 0.1)
        self.backbone.cls_token = nn.Parameter(torch.randn(1, 1, 8) * 0.1)
        self.backbone.layers = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])
        self.backbone.ln1 = nn.LayerNorm(8)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        x = x + self.backbone.pos_embed + self.backbone.cls_token
        for layer in self.backbone.layers:
            x = torch.relu(layer(x)) + x
        return self.head(self.backbone.ln1(x)).square().mean()


def _cpu_optim_cfg(train_tool, rel, monkeypatch):  # noqa: F811
    """The optimizer wrapper tools/train.py runs with on a machine without a GPU."""
    monkeypatch.setattr(train_tool, 'amp_usable', lambda: False)
    monkeypatch.delenv('RANK', raising=False)
    cfg = load(rel)
    args = train_tool.parse_args([f'{CONFIGS}/{rel}'])
    return train_tool.merge_args(cfg, args).optim_wrapper


def _run_steps(ow_cfg, steps=3):
    torch.manual_seed(0)
    model = TinyViTLike()
    start = copy.deepcopy(model.state_dict())
    wrapper = build_optim_wrapper(model, copy.deepcopy(ow_cfg))
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        wrapper.update_params(model(torch.randn(2, 4, 8, generator=gen)))
    for name, p in model.named_parameters():
        assert not torch.equal(p, start[name]), f'{name} did not move'
    return model, wrapper


@pytest.mark.parametrize('rel', PRETRAIN + MESH + DEMO)
def test_configs_build_fused_optimizers_that_step_on_cpu(rel, train_tool, monkeypatch,  # noqa: F811
                                                         request):
    assert load(rel).optim_wrapper.optimizer.fused is True
    ow = _cpu_optim_cfg(train_tool, rel, monkeypatch)
    assert ow.get('type', 'OptimWrapper') == 'OptimWrapper'
    assert ow.optimizer.fused is True  # the fallback keeps it: CPU has the fused kernels
    if ow.get('constructor'):  # mmpose's LayerDecayOptimWrapperConstructor
        request.getfixturevalue('mmpose_scope')
    model, wrapper = _run_steps(ow)
    assert type(wrapper.optimizer).__name__ == ow.optimizer.type
    assert wrapper.optimizer.defaults['fused'] is True
    assert all(g['fused'] is True for g in wrapper.optimizer.param_groups)
    assert int(wrapper.optimizer.state[model.head.weight]['step']) == 3
    # the same steps with the for-loop implementation (clipping and groups included)
    plain = copy.deepcopy(ow)
    plain.optimizer.fused = None
    ref, ref_wrapper = _run_steps(plain)
    assert ref_wrapper.optimizer.defaults['fused'] is None
    for (name, p), q in zip(model.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)


def test_amp_wrapper_with_fused_adamw_clips_scales_and_skips(monkeypatch):
    """AmpOptimWrapper's step (unscale_, clip, scaler.step, update) on the pre-training
    wrapper: GradScaler hands the fused kernel the inf flag (``_step_supports_amp_scaling``).
    mmengine builds a CUDA GradScaler; torch's CPU GradScaler stands in for it here."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp
    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    ow = load('handmim_vit-s.py').optim_wrapper
    results = []
    for fused in (True, None):
        cfg = copy.deepcopy(ow)
        cfg.optimizer.fused = fused
        torch.manual_seed(0)
        model = TinyViTLike()
        wrapper = build_optim_wrapper(model, cfg)
        assert type(wrapper).__name__ == 'AmpOptimWrapper'
        assert getattr(wrapper.optimizer, '_step_supports_amp_scaling', False) is bool(fused)
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0**12)
        gen = torch.Generator().manual_seed(1)
        for _ in range(2):
            wrapper.update_params(model(torch.randn(2, 4, 8, generator=gen)) * 1e3)
        before = [p.detach().clone() for p in model.parameters()]
        wrapper.update_params(model(torch.randn(2, 4, 8, generator=gen)) * float('inf'))
        for p, b in zip(model.parameters(), before):
            torch.testing.assert_close(p, b, atol=0, rtol=0)  # the inf step is skipped
        assert wrapper.loss_scaler.get_scale() == 2.0**11
        results.append(model)
    for p, q in zip(results[0].parameters(), results[1].parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)


# --- activation checkpointing --------------------------------------------------------------

@pytest.fixture
def count_checkpoints(monkeypatch):
    """Counts the calls of ``torch.utils.checkpoint.checkpoint`` (and checks their mode)."""
    import torch.utils.checkpoint as tc
    calls = []
    original = tc.checkpoint

    def counting(fn, *args, **kwargs):
        calls.append(kwargs.get('use_reentrant'))
        return original(fn, *args, **kwargs)

    monkeypatch.setattr(tc, 'checkpoint', counting)
    return calls


def _pair(cls, **kw):
    torch.manual_seed(0)
    off = cls(arch=ARCH, img_size=64, patch_size=16, drop_path_rate=0.2, **kw)
    off.init_weights()
    on = cls(arch=ARCH, img_size=64, patch_size=16, drop_path_rate=0.2, with_cp=True, **kw)
    on.load_state_dict(off.state_dict(), strict=True)
    return off, on


def _outputs_and_grads(model, fn, x):
    model.train()
    model.zero_grad(set_to_none=True)
    torch.manual_seed(123)  # the same drop-path draws for both models
    outs = [o for o in fn(model, x)]
    sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in outs).backward()
    return [o.detach() for o in outs], {n: p.grad for n, p in model.named_parameters()
                                        if p.grad is not None}


def _assert_same(a, b):
    (outs_a, grads_a), (outs_b, grads_b) = a, b
    for x, y in zip(outs_a, outs_b, strict=True):
        torch.testing.assert_close(x, y, atol=1e-6, rtol=0)
    assert set(grads_a) == set(grads_b) and len(grads_a) > 10
    for name in grads_a:
        torch.testing.assert_close(grads_a[name], grads_b[name], atol=1e-6, rtol=0, msg=name)


def _features(model, x):
    mask = torch.zeros(x.shape[0], 4, 4, dtype=torch.bool)
    mask[:, 1:3, 1:3] = True
    cls, patches, levels = model.forward_features(x, mask)
    return [cls, patches, *levels]


def test_handmim_vit_checkpointing_keeps_outputs_and_gradients(count_checkpoints):
    torch.set_num_threads(1)
    off, on = _pair(HandMIMViT)
    x = torch.randn(2, 3, 64, 64)
    ref = _outputs_and_grads(off, _features, x)
    assert count_checkpoints == []
    got = _outputs_and_grads(on, _features, x)
    assert count_checkpoints == [False] * ARCH['num_layers']  # one per block, non-reentrant
    _assert_same(ref, got)
    assert 'mask_token' in got[1] and 'patch_embed.projection.weight' in got[1]
    # forward() (out_indices) checkpoints too and gives the same outputs
    count_checkpoints.clear()
    _assert_same(_outputs_and_grads(off, lambda m, t: m(t), x),
                 _outputs_and_grads(on, lambda m, t: m(t), x))
    assert len(count_checkpoints) == ARCH['num_layers']
    # evaluation and no_grad (the EMA teacher) run without it
    count_checkpoints.clear()
    with torch.no_grad():
        on.train()
        on.forward_features(x)
        on.eval()
        off.eval()  # BaseBackbone.train returns None
        torch.testing.assert_close(on.forward_features(x)[0], off.forward_features(x)[0],
                                   atol=0, rtol=0)
    assert count_checkpoints == []


def _saved_bytes(model, x):
    total, seen = [0], {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        ptr = t.untyped_storage().data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            total[0] += t.untyped_storage().nbytes()
        return t

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.forward_features(x)
    return total[0]


def test_checkpointing_saves_less_for_backward():
    torch.set_num_threads(1)
    off, on = _pair(HandMIMViT)
    x = torch.randn(2, 3, 64, 64)
    assert _saved_bytes(on, x) < _saved_bytes(off, x) / 3


@pytest.mark.parametrize('out_type,out_indices', [('featmap', -1), ('raw', [1, 3]),
                                                  ('cls_token', -1)])
def test_checkpointed_vit_is_mmpretrains_vit(out_type, out_indices, count_checkpoints):
    """Same state dict and outputs as ``VisionTransformer``; with_cp changes nothing else."""
    torch.set_num_threads(1)
    off, on = _pair(CheckpointedViT, out_type=out_type, out_indices=out_indices)
    plain = VisionTransformer(arch=ARCH, img_size=64, patch_size=16, drop_path_rate=0.2,
                              out_type=out_type, out_indices=out_indices)
    plain.load_state_dict(off.state_dict(), strict=True)
    assert set(plain.state_dict()) == set(on.state_dict())
    x = torch.randn(2, 3, 64, 64)
    forward = lambda m, t: m(t)  # noqa: E731
    ref = _outputs_and_grads(plain, forward, x)
    _assert_same(ref, _outputs_and_grads(off, forward, x))
    assert count_checkpoints == []
    _assert_same(ref, _outputs_and_grads(on, forward, x))
    assert len(count_checkpoints) == ARCH['num_layers']
    with pytest.raises(ValueError, match='takes no patch mask'):
        on.embed_patches(x, torch.zeros(2, 4, 4, dtype=torch.bool))


def test_vit_l_configs_switch(mmpose_scope, count_checkpoints):
    """handmim_vit-l.py and the mesh ViT-L configs declare with_cp=False; their documented
    switch (--cfg-options model.backbone.with_cp=True) builds the same weights, checkpointed."""
    from mmengine.config import DictAction
    from mmpose.registry import MODELS
    bb = load('handmim_vit-l.py').model.backbone
    assert bb.type == 'HandMIMViT' and bb.with_cp is False and bb.arch == 'large'
    vit = MODELS.build(dict(bb, type='mmpretrain.HandMIMViT', arch=ARCH, img_size=64,
                            with_cp=True))
    assert type(vit) is HandMIMViT and vit.with_cp is True

    with open(f'{CONFIGS}/mesh/handmim-l_pymaf_freihand.py') as f:
        switch = f.read().split('--cfg-options ')[1].splitlines()[0].split()
    ns = type('Namespace', (), {})()
    DictAction(['--cfg-options'], 'opts')(None, ns, switch)
    assert switch == ['model.backbone.with_cp=True']
    for rel in ('mesh/handmim-l_pymaf_freihand.py', 'mesh/vit-l_pymaf_ho3d_scratch.py'):
        cfg = load(rel)
        assert cfg.model.backbone.with_cp is False  # off unless asked
        cfg.merge_from_dict(ns.opts)
        bb = cfg.model.backbone
        assert bb.type == 'mmpretrain.CheckpointedViT' and bb.with_cp is True
        assert bb.arch == 'large' and bb.init_cfg  # the rest of the backbone is kept
        small = dict(bb, arch=ARCH, img_size=64, init_cfg=None)
        vit = MODELS.build(small)
        plain = {k: v for k, v in small.items() if k != 'with_cp'}
        ref = MODELS.build(dict(plain, type='mmpretrain.VisionTransformer'))
        assert type(vit) is CheckpointedViT and vit.with_cp
        assert set(vit.state_dict()) == set(ref.state_dict())
        count_checkpoints.clear()
        vit.train()
        vit(torch.randn(1, 3, 64, 64))[-1].sum().backward()
        assert len(count_checkpoints) == ARCH['num_layers']
