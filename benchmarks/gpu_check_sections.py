"""The measuring sections of ``benchmarks/gpu_check.py``: pre-training step, fine-tuning step,
inference, numerics. Each takes the run's ``Context`` and returns a JSON-able dict; one item
(a model in one precision) that fails is recorded with its error and the others still run."""
import contextlib
import copy
import statistics
import time

import torch

import bench_mesh_inference as bmi
import bench_pretrain_step as bps
from gpu_check_parts import (ARCH_NAMES, FLOPS_HOW, build_mesh_model, build_optim,
                             build_pretrain_model, count_flops, guarded, measure, mesh_batches,
                             mesh_config, mesh_step, pretrain_batches, pretrain_config,
                             pretrain_step, vit_dims, vit_forward_flops_analytic)

#: ViT-S/16 at 224 px: 4.6 G multiply-adds (DeiT-S), i.e. ~9.2 GFLOP
VIT_S16_GFLOP = 9.2
#: HandMIM paper: ViT-S mesh model at 40 FPS on a V100; our target on a current GPU: 10x
PAPER_FPS_V100 = 40.0
TARGET_FPS_FACTOR = 10
#: numerics tolerances (stated in the output): a forward on two devices / dtypes, fp32 weights
FORWARD_TOL = dict(features_rel=1e-3, vertices_m=1e-4, keypoints_2d_px=1e-2)
#: |bf16-autocast loss - fp32 loss| <= BF16_LOSS_RTOL * |fp32 loss|, same batch and weights
#: (CPU bf16 autocast, real ViT-S, random weights, batch 4: 6e-5 pre-training, 5e-4 mesh)
BF16_LOSS_RTOL = 0.02


def model_name(arch, ctx):
    return ARCH_NAMES[arch] + (' toy' if ctx.toy else '')


def forward_flops(backbone, name, device):
    """Counted and analytic FLOPs of one image through a ViT (no mask, no grad)."""
    dims = vit_dims(backbone)
    x = torch.randn(1, 3, dims['img_size'], dims['img_size'], device=device)
    fwd = getattr(backbone, 'forward_features', backbone.forward)
    with torch.no_grad():
        counted, _ = count_flops(fwd, x)
    analytic = vit_forward_flops_analytic(dims['embed_dims'], dims['num_layers'],
                                          dims['img_size'], dims['patch_size'])
    return dict(model=name, device=device, **dims,
                tokens=(dims['img_size'] // dims['patch_size'])**2 + 1,
                counted_flops=counted, counted_gflop=counted / 1e9,
                counted_gmacs=counted / 2e9, analytic_flops=analytic,
                counted_over_analytic=counted / analytic)


def reference_vit_s16_flops():
    """The sanity number: the real ViT-S/16 of configs/handmim_vit-s.py at 224 px, on CPU."""
    from mmpretrain.registry import MODELS
    cfg = pretrain_config('s', toy=False)
    backbone = MODELS.build(cfg.model.backbone)
    backbone.eval()  # mmpretrain's ViT.train() returns None, so no chaining
    r = forward_flops(backbone, 'ViT-S/16 224 px (reference)', 'cpu')
    r['expected_gflop'] = VIT_S16_GFLOP
    return r


def step_item(kind, arch, precision, ctx, cache):
    """One (model, precision) of a step section: build, batches (cached per arch), measure."""
    s = ctx.s
    if kind == 'pretrain':
        cfg = pretrain_config(arch, ctx.toy)
        model = build_pretrain_model(cfg, ctx.device)
    else:
        cfg = mesh_config(arch, ctx.toy)
        model = build_mesh_model(cfg, ctx.device)
    batch = s['batch'] or cfg.train_dataloader.batch_size
    if arch not in cache:
        cache.clear()  # one architecture's batches at a time
        cache[arch] = (pretrain_batches(cfg, batch, 3, ctx.device) if kind == 'pretrain'
                       else mesh_batches(model, batch, 3, ctx.device))
    wrapper, autocast = build_optim(model, cfg.optim_wrapper, ctx.device, precision)
    step = (pretrain_step(model, wrapper, autocast, ctx.device) if kind == 'pretrain' else
            mesh_step(model, wrapper, autocast))
    r = dict(model=model_name(arch, ctx), optim_wrapper=type(wrapper).__name__,
             params_M=sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6)
    r.update(measure(step, cache[arch], s, ctx.device, ctx.device_name, precision, batch))
    if hasattr(wrapper, 'loss_scaler'):
        r['loss_scale_end'] = float(wrapper.loss_scaler.get_scale())
    r['forward_flops'] = forward_flops(model.backbone, r['model'], ctx.device)
    del model, wrapper, step
    return r


def step_section(kind, ctx):
    out = dict(flops_how=FLOPS_HOW, runs=[], skipped=[], forward_flops=[],
               images='pre-training: each image is 2 global views' if kind == 'pretrain'
               else 'fine-tuning: one crop per image')
    errors = []
    if kind == 'pretrain':
        status, ref = guarded(reference_vit_s16_flops)
        out['forward_flops'].append(ref if status == 'ok' else dict(model='ViT-S/16', **ref))
        if status == 'error':
            errors.append(f"ViT-S/16 reference FLOPs: {ref['error']}")
    cache = {}
    for arch in ctx.s['archs']:
        for precision in ctx.s['precisions']:
            label = f'{model_name(arch, ctx)} {precision}'
            if not ctx.budget.allows(ctx.estimates['step_item']):
                out['skipped'].append(f'{label}: budget ({ctx.budget.left():.0f} s left)')
                continue
            ctx.log(f'{kind} step: {label}')
            status, r = guarded(step_item, kind, arch, precision, ctx, cache)
            if status == 'ok':
                fwd = r.pop('forward_flops')
                if precision == ctx.s['precisions'][0]:  # the same model in each precision
                    out['forward_flops'].append(dict(fwd, model=f'{fwd["model"]} ({kind})'))
            else:
                r = dict(model=model_name(arch, ctx), precision=precision, **r)
            out['runs'].append(dict(status=status, **r))
            ctx.release()
    cache.clear()
    ctx.release()
    out['errors'] = errors + [f"{r['model']} {r['precision']}: {r['error']}"
                              for r in out['runs'] if r['status'] == 'error']
    return out


def pretrain_section(ctx):
    return step_section('pretrain', ctx)


def finetune_section(ctx):
    return step_section('finetune', ctx)


# --- inference -----------------------------------------------------------------------------
def latency(model, batch, repeats, warmup, device, dtype=None):
    """Median seconds of ``model.predict`` on one batch, synchronised only around calls;
    under autocast to ``dtype`` when given."""
    inputs, samples = bmi.make_batch(batch, model.head.input_size, device)
    cast = (torch.autocast(device, dtype=dtype) if dtype is not None else
            contextlib.nullcontext())
    times = []
    with torch.inference_mode(), cast:
        for i in range(warmup + repeats):
            bps.sync(device)
            t = time.perf_counter()
            model.predict(inputs, samples)
            bps.sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t)
    return statistics.median(times)


def inference_section(ctx):
    """ViT-S mesh model, fp32: latency at batch 1, throughput at the large batch, and the
    head + MANO share of the forward (time from bench_mesh_inference's part timer, FLOPs)."""
    s = ctx.s
    model = build_mesh_model(mesh_config('s', ctx.toy), ctx.device).eval()
    fl = bmi.count_flops(model, ctx.device)  # head, pyramid, MANO per image
    fl['backbone'] = forward_flops(model.backbone, 'backbone', ctx.device)['counted_gflop']
    out = dict(model=model_name('s', ctx) + ' + PyMAF-MANO head (stand-in hand model)',
               precision='fp32', gflop_per_image=fl, paper_fps_v100=PAPER_FPS_V100,
               head_mano_flops_share=(fl['head'] + fl['mano']) / (
                   fl['backbone'] + fl['head'] + fl['mano']), rows=[])
    for batch in s['infer_batches']:
        med = latency(model, batch, s['infer_repeats'], s['infer_warmup'], ctx.device)
        out['rows'].append(dict(batch=batch, ms_per_call=1e3 * med,
                                ms_per_image=1e3 * med / batch, images_per_s=batch / med))
    # the same under bf16 autocast (what a deployment would use on A100/H100/H200)
    out['bf16_rows'] = []
    for batch in s['infer_batches']:
        med = latency(model, batch, s['infer_repeats'], s['infer_warmup'], ctx.device,
                      torch.bfloat16)
        out['bf16_rows'].append(dict(batch=batch, ms_per_call=1e3 * med,
                                     ms_per_image=1e3 * med / batch,
                                     images_per_s=batch / med))
    timer = bmi.PartTimer(model, ctx.device)  # syncs at every part: shares only
    for row in out['rows']:
        r = bmi.bench(model, timer, row['batch'], max(3, s['infer_repeats'] // 2),
                      s['infer_warmup'], 10.0, ctx.device)
        row['head_mano_time_share'] = r['head_mano_share_of_forward']
        row['part_share'] = {k: r['share'][k] for k in bmi.PARTS}
    out['fps_batch1'] = out['rows'][0]['images_per_s']
    # the target: at least 10x the paper's 40 FPS (batch 1, any precision)
    out['target_fps'] = TARGET_FPS_FACTOR * PAPER_FPS_V100
    out['best_fps_batch1'] = max(out['fps_batch1'], out['bf16_rows'][0]['images_per_s'])
    out['target_met_batch1'] = out['best_fps_batch1'] >= out['target_fps']
    del model, timer
    ctx.release()
    return out


# --- numerics ------------------------------------------------------------------------------
def mesh_outputs(model, device, dtype, batch):
    """Backbone map and last-iteration estimate of a fixed input, on ``device`` in ``dtype``."""
    inputs, samples = bmi.make_batch(batch, model.head.input_size, 'cpu', seed=1)
    for ds in samples:
        labels = ds.gt_instance_labels
        labels.cam_K = labels.cam_K.to(device, dtype)
    inputs = inputs.to(device, dtype)
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        est = model.head.forward(feats, model.head._labels(samples, 'cam_K'))[-1]
    x = feats[-1]
    while isinstance(x, (list, tuple)):
        x = x[-1]
    return dict(features=x.double().cpu(), vertices=est['vertices'].double().cpu(),
                keypoints_2d=est['keypoints_2d'].double().cpu())


def forward_agreement(ctx):
    """The same fp32 weights: GPU vs CPU (GPU mode, TF32 off) or CPU fp32 vs CPU fp64
    (smoke), max abs differences against the stated tolerances."""
    model = build_mesh_model(mesh_config('s', ctx.toy), 'cpu').eval()
    if ctx.device == 'cuda':
        ref_on, cand_on = ('cpu', torch.float32), ('cuda', torch.float32)
    else:
        ref_on, cand_on = ('cpu', torch.float64), ('cpu', torch.float32)
    tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        ref = mesh_outputs(copy.deepcopy(model).to(*ref_on), *ref_on, ctx.s['numerics_batch'])
        cand = mesh_outputs(model.to(*cand_on), *cand_on, ctx.s['numerics_batch'])
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
    diff = {k: float((ref[k] - cand[k]).abs().max()) for k in ref}
    scale = float(ref['features'].abs().max())
    checks = dict(features_rel=diff['features'] / max(scale, 1e-12),
                  vertices_m=diff['vertices'], keypoints_2d_px=diff['keypoints_2d'])
    return dict(model=model_name('s', ctx) + ' mesh model, eval',
                reference=f'{ref_on[0]} {str(ref_on[1])[6:]}',
                candidate=f'{cand_on[0]} {str(cand_on[1])[6:]}', tf32='off',
                max_abs_diff=checks, tolerance=FORWARD_TOL,
                passed={k: checks[k] <= FORWARD_TOL[k] for k in checks})


def bf16_loss(kind, ctx):
    """The loss of one batch in fp32 and under bf16 autocast (eval mode: no dropout,
    drop-path or centre updates, so both see the same function)."""
    if kind == 'pretrain':
        cfg = pretrain_config('s', ctx.toy)
        model = build_pretrain_model(cfg, ctx.device).eval()
        batch = pretrain_batches(cfg, ctx.s['numerics_batch'], 1, ctx.device)[0]
    else:
        model = build_mesh_model(mesh_config('s', ctx.toy), ctx.device).eval()
        batch = mesh_batches(model, ctx.s['numerics_batch'], 1, ctx.device)[0]

    def loss():
        data = model.data_preprocessor(dict(batch), False)
        return float(model.parse_losses(model(**data, mode='loss'))[0])
    with torch.no_grad():
        fp32 = loss()
        with torch.autocast(ctx.device, dtype=torch.bfloat16):
            bf16 = loss()
    rel = abs(bf16 - fp32) / max(abs(fp32), 1e-12)
    return dict(model=f'{model_name("s", ctx)} {kind}', loss_fp32=fp32, loss_bf16=bf16,
                rel_diff=rel, rtol=BF16_LOSS_RTOL, passed=rel <= BF16_LOSS_RTOL)


def numerics_section(ctx):
    out = dict(checks=[], errors=[])
    for name, fn, args in (('forward agreement', forward_agreement, (ctx, )),
                           ('bf16 loss, pre-training', bf16_loss, ('pretrain', ctx)),
                           ('bf16 loss, fine-tuning', bf16_loss, ('finetune', ctx))):
        ctx.log(f'numerics: {name}')
        status, r = guarded(fn, *args)
        out['checks'].append(dict(check=name, status=status, **r))
        if status == 'error':
            out['errors'].append(f"{name}: {r['error']}")
        ctx.release()
    out['all_passed'] = all(all(c['passed'].values()) if isinstance(c.get('passed'), dict)
                            else bool(c.get('passed')) for c in out['checks'])
    return out
