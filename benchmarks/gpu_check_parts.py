"""Building blocks of ``benchmarks/gpu_check.py``: the run settings of each mode, models and
batches from the real configs (or the same configs shrunk to toy sizes), FLOP counting, the
peak-FLOPS table and MFU, one timed training step and the profiler's top costs.

Model, optimizer and batch code is reused from ``bench_pretrain_step.py`` (``make_batches``,
``train_step``) and ``bench_mesh_inference.py`` (``make_batch``); what is new here is the
config overrides (toy sizes, the stand-in hand model) and the AMP choice per precision.
"""
import contextlib
import copy
import logging
import os
import re
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, 'benchmarks')):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations, before mmengine)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

import bench_mesh_inference as bmi  # noqa: E402
import bench_pretrain_step as bps  # noqa: E402

PRETRAIN_CONFIGS = dict(s='configs/handmim_vit-s.py', b='configs/handmim_vit-b.py')
MESH_CONFIGS = dict(s='configs/mesh/handmim-s_pymaf_freihand.py',
                    b='configs/mesh/handmim-b_pymaf_freihand.py')
ARCH_NAMES = dict(s='ViT-S/16', b='ViT-B/16')

#: toy ViTs of the smoke mode (MLP ratio 4, as the analytic FLOP formula assumes); patch 8 on
#: 32 px: a 4x4 grid, 17 tokens with the class token
TOY_VITS = dict(s=dict(embed_dims=64, num_layers=3, num_heads=2, feedforward_channels=256),
                b=dict(embed_dims=96, num_layers=3, num_heads=3, feedforward_channels=384))
TOY_IMG, TOY_PATCH = 32, 8

#: what each mode runs; 'amp' names the autocast dtypes of the step sections
SETTINGS = {
    'gpu': dict(device='cuda', toy=False, archs=('s', 'b'), precisions=('bf16', 'fp16'),
                batch=None, warmup=3, steps=10, infer_batches=(1, 64), infer_repeats=20,
                infer_warmup=5, numerics_batch=16),
    'cpu-smoke': dict(device='cpu', toy=True, archs=('s', 'b'), precisions=('fp32', 'bf16'),
                      batch=2, warmup=1, steps=2, infer_batches=(1, 2), infer_repeats=2,
                      infer_warmup=1, numerics_batch=2),
}

#: dense (no sparsity) tensor-core peaks in TFLOPS, (bf16, fp16), from NVIDIA's data sheets;
#: the first pattern that matches the device name wins (PCIe/NVL before the SXM default)
PEAK_TFLOPS = (
    (r'H100.*PCIe', 756., 756.), (r'H100.*NVL', 835., 835.), (r'H100|H800', 989., 989.),
    (r'H200.*NVL', 835., 835.), (r'H200', 989., 989.), (r'GH200', 989., 989.),
    (r'B200', 2250., 2250.), (r'A100|A800', 312., 312.), (r'A30\b', 165., 165.),
    (r'A40\b', 150., 150.), (r'A10\b', 125., 125.), (r'L40S', 362., 362.),
    (r'L40\b', 181., 181.), (r'L4\b', 121., 121.), (r'V100.*PCI', None, 112.),
    (r'V100', None, 125.), (r'T4\b', None, 65.),
)

FLOPS_HOW = ('torch.utils.flop_counter.FlopCounterMode over one whole training step (data '
             'preprocessor, student forward + backward, teacher forward, heads, decoder, '
             'losses; optimizer and EMA have no matmuls): matmul, convolution and attention '
             'ops only, 2 FLOPs per multiply-add, fused CPU attention counted as its two '
             'matmuls. MFU = counted FLOPs per step / median step time / dense peak of the '
             'autocast dtype (unknown device or fp32: null)')


# --- FLOPs ---------------------------------------------------------------------------------
def flop_counter():
    """``FlopCounterMode`` that also counts the CPU fused attention kernel (torch counts the
    CUDA flash/efficient/cuDNN ones but not ``_scaled_dot_product_flash_attention_for_cpu``,
    which made ViT-S/16 read 8.5 instead of 9.2 GFLOP on CPU)."""
    from torch.utils.flop_counter import (FlopCounterMode, sdpa_backward_flop_count,
                                          sdpa_flop_count)
    aten, custom = torch.ops.aten, {}
    if hasattr(aten, '_scaled_dot_product_flash_attention_for_cpu'):
        custom[aten._scaled_dot_product_flash_attention_for_cpu] = (
            lambda q, k, v, *args, out_shape=None, **kwargs: sdpa_flop_count(q, k, v))
    if hasattr(aten, '_scaled_dot_product_flash_attention_for_cpu_backward'):
        custom[aten._scaled_dot_product_flash_attention_for_cpu_backward] = (
            lambda g, q, k, v, *args, out_shape=None, **kwargs: sdpa_backward_flop_count(
                g, q, k, v))
    return FlopCounterMode(display=False, custom_mapping=custom)


def count_flops(fn, *args):
    """(FLOPs counted while running ``fn(*args)``, its return value)."""
    with flop_counter() as counter:
        out = fn(*args)
    return counter.get_total_flops(), out


def vit_forward_flops_analytic(embed_dims, num_layers, img_size, patch_size):
    """FLOPs of a ViT forward (MLP ratio 4, class token, 2 FLOPs per multiply-add):
    per block 24*N*D^2 (qkv 6, projection 2, MLP 16) + 4*N^2*D (QK^T and AV), N = tokens
    with the class token; plus the patch embedding 2 * patches * (3 * P^2) * D."""
    patches = (img_size // patch_size)**2
    n, d = patches + 1, embed_dims
    return num_layers * (24 * n * d * d + 4 * n * n * d) + 2 * patches * 3 * patch_size**2 * d


def peak_tflops(device_name, precision):
    """Dense peak TFLOPS of ``device_name`` for 'bf16'/'fp16'; None when unknown (or fp32)."""
    if precision not in ('bf16', 'fp16'):
        return None
    for pattern, bf16, fp16 in PEAK_TFLOPS:
        if re.search(pattern, device_name or ''):
            return bf16 if precision == 'bf16' else fp16
    return None


# --- configs, models, batches --------------------------------------------------------------
def pretrain_config(arch, toy):
    cfg = Config.fromfile(os.path.join(ROOT, PRETRAIN_CONFIGS[arch]))
    if toy:
        d = TOY_VITS[arch]['embed_dims']
        cfg.model.backbone.update(arch=dict(TOY_VITS[arch]), img_size=TOY_IMG,
                                  patch_size=TOY_PATCH, level_indices=[0, 1, 2])
        cfg.model.projection_head.update(in_channels=d, out_dim=256, hidden_dim=128)
        cfg.model.distill_loss.out_dim = 256
        cfg.model.decoder.update(in_channels=d, channels=(32, 16, 8))  # 2^3 = patch 8
        for t in cfg.train_dataloader.dataset.pipeline:
            if t['type'] == 'HandMultiView':
                t.update(view_size=TOY_IMG, patch_size=TOY_PATCH)
    return cfg


def mesh_config(arch, toy):
    cfg = Config.fromfile(os.path.join(ROOT, MESH_CONFIGS[arch]))
    cfg.model.backbone.pop('init_cfg', None)  # no pre-trained backbone file here
    cfg.model.head.mano.model_path = 'standin'  # MANO itself is licence-gated
    if toy:
        d = TOY_VITS[arch]['embed_dims']
        cfg.model.backbone.update(arch=dict(TOY_VITS[arch], num_layers=2), img_size=TOY_IMG,
                                  patch_size=TOY_PATCH, drop_path_rate=0.0)
        cfg.model.head.update(in_channels=d, input_size=(TOY_IMG, TOY_IMG),
                              deconv_channels=(32, 16, 8), point_channels=(16, 8, 5),
                              grid_size=5, hidden=64)
    return cfg


def vit_dims(backbone):
    """The dimensions the analytic formula needs, read from a built mmpretrain ViT."""
    patch = int(backbone.patch_embed.projection.stride[0])
    return dict(embed_dims=int(backbone.embed_dims), num_layers=int(backbone.num_layers),
                img_size=int(backbone.patch_resolution[0]) * patch, patch_size=patch,
                feedforward_channels=int(backbone.layers[0].ffn.feedforward_channels))


@contextlib.contextmanager
def quiet_logger():
    """mmengine's "teacher.* is skipped" and init lines, 100 of them per model."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def build_pretrain_model(cfg, device):
    from mmpretrain.registry import MODELS
    with quiet_logger():
        model = MODELS.build(cfg.model)
        model.init_weights()
    return model.to(device).train()


def build_mesh_model(cfg, device):
    with DefaultScope.overwrite_default_scope('mmpose'), quiet_logger():
        from mmpose.registry import MODELS
        model = MODELS.build(cfg.model)
        model.init_weights()
    return model.to(device).train()


def build_optim(model, ow_cfg, device, precision):
    """The config's optimizer wrapper; AMP (AmpOptimWrapper, dynamic loss scale, as
    ``tools/train.py --amp-dtype``) for bf16/fp16 on CUDA, float32 OptimWrapper otherwise.
    Returns (wrapper, autocast: a callable giving the forward's context)."""
    ow_cfg = copy.deepcopy(ow_cfg)
    dtype = dict(bf16=torch.bfloat16, fp16=torch.float16).get(precision)
    if device == 'cuda' and dtype is not None:
        ow_cfg.update(type='AmpOptimWrapper', dtype=str(dtype).split('.')[-1],
                      loss_scale=ow_cfg.get('loss_scale', 'dynamic'))
    else:  # AmpOptimWrapper asserts a GPU: float32 wrapper, CPU autocast below
        ow_cfg['type'] = 'OptimWrapper'
        for key in ('loss_scale', 'dtype', 'use_fsdp'):
            ow_cfg.pop(key, None)
    with quiet_logger():
        wrapper = build_optim_wrapper(model, ow_cfg)
    if device == 'cuda' and dtype is not None:
        return wrapper, lambda: wrapper.optim_context(model)
    if dtype is not None:
        return wrapper, lambda: torch.autocast(device, dtype=dtype)
    return wrapper, contextlib.nullcontext


def to_device(batch, device):
    """A collated batch moved once before timing (a loader with pinned memory overlaps the
    copy with the previous step)."""
    inputs = batch['inputs']
    inputs = [x.to(device) for x in inputs] if isinstance(inputs, (list, tuple)) else \
        inputs.to(device)
    return dict(inputs=inputs, data_samples=[ds.to(device) for ds in batch['data_samples']])


def pretrain_batches(cfg, batch, num, device):
    return [to_device(b, device) for b in bps.make_batches(cfg, batch, num)]


def mesh_batches(model, batch, num, device, seed=0):
    """Random uint8 crops with every label field ``PyMAFMANOHead.loss`` reads: the targets
    are a posed stand-in hand 0.6 m in front of the crop camera (finite, plausible values,
    so fp16 sees realistic magnitudes)."""
    from mmhandmim.structures import project
    head = model.head
    mano = copy.deepcopy(head.mano).cpu().float()
    w, h = head.input_size
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        _, samples = bmi.make_batch(batch, (w, h), 'cpu', seed=seed)
        pose = 0.3 * torch.randn(batch, 48, generator=g)
        with torch.no_grad():
            hand = mano(mano.pose_to_rotmat(pose), torch.zeros(batch, 10))
        shift = torch.tensor([0., 0., 0.6]) - hand['keypoints'][:, :1]
        kpts, verts = hand['keypoints'] + shift, hand['vertices'] + shift
        for i, ds in enumerate(samples):
            K = ds.gt_instance_labels.cam_K
            ds.gt_instance_labels.set_data(dict(
                keypoints_3d=kpts[i:i + 1], vertices=verts[i:i + 1],
                keypoints_2d=project(kpts[i:i + 1], K), mano_pose=pose[i:i + 1],
                mano_betas=torch.zeros(1, 10), mano_trans=shift[i:i + 1, 0],
                has_3d=torch.ones(1), has_mano=torch.ones(1), has_verts=torch.ones(1)))
        images = torch.randint(0, 256, (batch, 3, h, w), dtype=torch.uint8, generator=g)
        out.append(to_device(dict(inputs=list(images), data_samples=samples), device))
    return out


# --- steps ---------------------------------------------------------------------------------
def pretrain_step(model, wrapper, autocast, device):
    """``bench_pretrain_step.train_step``: forward, backward, clip + AdamW, teacher EMA."""
    parts = bps.Parts()  # disabled: no record_function ranges

    def step(batch):
        return bps.train_step(model, wrapper, dict(batch), parts, autocast, device)[0]
    return step


def mesh_step(model, wrapper, autocast):
    """``BaseModel.train_step`` with the forward under ``autocast``."""
    def step(batch):
        with autocast():
            data = model.data_preprocessor(dict(batch), True)
            losses = model(**data, mode='loss')
        loss, _ = model.parse_losses(losses)
        wrapper.update_params(loss)
        return float(loss.detach())
    return step


def time_steps(step, batches, warmup, steps, device):
    """Seconds per timed step and the losses (``warmup`` untimed steps first)."""
    times, losses = [], []
    for i in range(warmup + steps):
        bps.sync(device)
        t = time.perf_counter()
        losses.append(step(batches[i % len(batches)]))
        bps.sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
    return times, losses


def top_costs(step, batch, device, k=3):
    """The ``k`` ops with the most self time (CUDA time on a GPU, CPU time otherwise) in one
    profiled step, with their share of the step's total self time."""
    acts = [torch.profiler.ProfilerActivity.CPU]
    if device == 'cuda':
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=acts) as prof:
        step(batch)
        bps.sync(device)

    def self_us(e):
        if device == 'cuda':
            return getattr(e, 'self_device_time_total', None) or getattr(
                e, 'self_cuda_time_total', 0)
        return e.self_cpu_time_total
    events = [e for e in prof.key_averages() if self_us(e) > 0]
    total = sum(self_us(e) for e in events) or 1.
    top = sorted(events, key=self_us, reverse=True)[:k]
    return dict(by=('CUDA' if device == 'cuda' else 'CPU') + ' self time by op',
                total_ms=total / 1e3,
                ops=[dict(op=e.key, ms=self_us(e) / 1e3, share=self_us(e) / total)
                     for e in top])


def measure(step, batches, s, device, device_name, precision, batch):
    """One (model, precision): FLOPs of a counted step (it also warms up), timed steps, peak
    memory, MFU and, when MFU is under 40 % or unknown, the profiler's top costs."""
    if device == 'cuda':
        torch.cuda.reset_peak_memory_stats()
    flops, _ = count_flops(step, batches[0])
    times, losses = time_steps(step, batches, s['warmup'], s['steps'], device)
    med = statistics.median(times)
    peak = peak_tflops(device_name, precision)
    r = dict(precision=precision, batch=batch, steps=len(times), s_per_step_median=med,
             s_per_step_all=times, images_per_s=batch / med, gflop_per_step=flops / 1e9,
             gflop_per_image=flops / 1e9 / batch, achieved_tflops=flops / med / 1e12,
             peak_tflops=peak, mfu=None if peak is None else flops / med / (peak * 1e12),
             loss_first=losses[0], loss_last=losses[-1],
             losses_finite=bool(np.isfinite(losses).all()))
    if device == 'cuda':
        r['peak_gpu_GiB'] = torch.cuda.max_memory_allocated() / 2**30
        r['peak_gpu_reserved_GiB'] = torch.cuda.max_memory_reserved() / 2**30
    else:
        r['peak_gpu_GiB'] = None
        r['peak_rss_MiB'] = bps.peak_rss_mb()[0]
    if r['mfu'] is None or r['mfu'] < 0.4:
        r['top_costs'] = top_costs(step, batches[0], device)
    return r


# --- the run: settings, budget, guarded items -----------------------------------------------
class Budget:
    """Wall-clock budget of the whole check: a section or item starts only if its estimated
    duration still fits."""

    def __init__(self, seconds):
        self.seconds, self.start = float(seconds), time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start

    def left(self):
        return self.seconds - self.elapsed()

    def allows(self, estimate_s):
        return self.left() >= estimate_s


class Context:
    """What every section gets: the mode's settings, the device, the output folder, the
    budget, the estimates (seconds) used to decide whether something still fits."""

    def __init__(self, mode, out_dir, budget_s):
        self.mode, self.s = mode, SETTINGS[mode]
        self.device, self.toy = self.s['device'], self.s['toy']
        self.out_dir, self.budget = out_dir, Budget(budget_s)
        self.device_name = (torch.cuda.get_device_name(0) if self.device == 'cuda' else
                            f'CPU ({os.cpu_count()} cores)')
        self.estimates = dict(gpu=dict(step_item=25, infer=40, numerics=30, tool_path=150),
                              smoke=dict(step_item=2, infer=5, numerics=5, tool_path=60))[
                                  'gpu' if mode == 'gpu' else 'smoke']

    def log(self, msg):
        print(f'[gpu_check {self.budget.elapsed():6.1f} s] {msg}', flush=True)

    def release(self):
        import gc
        gc.collect()
        if self.device == 'cuda':
            torch.cuda.empty_cache()


def error_line(exc):
    text = f'{type(exc).__name__}: {exc}'.strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def guarded(fn, *args):
    """``fn(*args)`` as (status, result); an exception becomes ('error', its line and the end
    of its traceback), so one failure is recorded and the caller goes on."""
    import traceback
    try:
        return 'ok', fn(*args)
    except Exception as exc:  # noqa: BLE001 - recorded, never swallowed silently
        tb = traceback.format_exc().strip().splitlines()[-12:]
        return 'error', dict(error=error_line(exc), traceback=tb)
