"""Time one HandMIM pre-training step (ViT-S / ViT-B at 224 px) and where it goes.

Usage: python benchmarks/bench_pretrain_step.py [--arch s b] [--batch 8] [--steps 3]
           [--warmup 1] [--threads N] [--amp {none,bf16}] [--no-profile]
           [--gpu-batch 128] [--gpu-steps 5] [--gpu-amp fp16 bf16] [--no-gpu]
           [--json OUT]

The model is built from ``configs/handmim_vit-{s,b}.py`` (mmengine ``Config`` +
``mmpretrain.registry.MODELS``) with the config's optimizer wrapper (AdamW, paramwise
settings, gradient clipping 3.0). Batches come from the config's own ``HandMultiView`` and
``PackInputs`` transforms run on synthetic 256 px uint8 hand crops (what ``LoadHandCrop``
gives), collated with ``default_collate``: 2 global 224 px views per image, block masks,
view geometry. They are made before timing (a data loader prepares them in parallel).

A step is what ``BaseModel.train_step`` + ``TeacherEMAHook`` do: data preprocessor,
``loss`` forward (student backbone on masked views, teacher on unmasked views, projection
heads + losses, pixel decoder), backward, gradient clipping + AdamW step, teacher EMA.
Reported: s/step (mean, median, best of ``--steps`` after ``--warmup``), images/s, peak RSS
of the process during that architecture (``VmHWM``, reset per architecture through
``/proc/self/clear_refs``; ``ru_maxrss`` is the process-wide peak), and the share of one
step spent in each part, forward and backward. The parts are measured in one extra,
profiled step (``torch.profiler``): forward time is that of ``record_function`` ranges
wrapped around the parts; each backward autograd node is charged to the part whose forward
created it (matching sequence numbers). Those proportions split the median forward and
backward times of the timed (unprofiled) steps; optimizer and EMA are timed directly in
every step. The raw profiled seconds are printed too (profiler overhead and load show there).

With a CUDA device (and without ``--no-gpu``), it also measures images/s and peak GPU memory
at ``--gpu-batch`` (128 per GPU in the paper's set-up) under AMP (``AmpOptimWrapper``, as
``tools/train.py --amp``), for each dtype of ``--gpu-amp``.

Timings on a shared machine are noisy: the load average is printed with the results.
"""
import argparse
import contextlib
import copy
import json
import logging
import os
import resource
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations, before mmengine)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import default_collate  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402
from mmengine.optim import build_optim_wrapper  # noqa: E402
from mmpretrain.registry import MODELS, TRANSFORMS  # noqa: E402

import mmhandmim.models.selfsup.handmim as handmim_module  # noqa: E402

CONFIGS = dict(s='configs/handmim_vit-s.py', b='configs/handmim_vit-b.py')
PARTS = ('data preprocessor', 'student backbone', 'teacher (no grad)',
         'projection heads + losses', 'pixel decoder + L1', 'optimizer (clip + AdamW)',
         'teacher EMA', 'other')


# --- memory --------------------------------------------------------------------------------
def _status_kb(key):
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def release_memory():
    """Give freed heap back to the OS (glibc keeps it otherwise), so the next
    architecture's RSS does not start with the previous one's leftovers."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):
        pass


def reset_peak_rss():
    """Reset the process's peak RSS (VmHWM); False where the kernel does not allow it."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def peak_rss_mb():
    """(peak RSS since the last reset (VmHWM), process-wide ru_maxrss) in MiB."""
    hwm = _status_kb('VmHWM')
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return (hwm / 1024 if hwm else None), maxrss / 1024


def cpu_snapshot():
    """(machine busy CPU seconds from /proc/stat, this process's CPU seconds, wall)."""
    busy = None
    try:
        with open('/proc/stat') as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
        busy = (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf('SC_CLK_TCK')
    except (OSError, ValueError, IndexError):
        pass
    return busy, time.process_time(), time.perf_counter()


def others_cpu_share(start, end):
    """Share of the machine's CPU capacity used by other processes between two
    snapshots (what makes timings on a shared box noisy); None where unknown."""
    if start[0] is None or end[0] is None:
        return None
    wall = end[2] - start[2]
    others = (end[0] - start[0]) - (end[1] - start[1])
    return max(others, 0.) / (wall * (os.cpu_count() or 1))


def load_average():
    try:
        return tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        return None


# --- model and data ------------------------------------------------------------------------
def build(arch, device, amp_dtype=None):
    cfg = Config.fromfile(os.path.join(ROOT, CONFIGS[arch]))
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.to(device).train()
    ow_cfg = copy.deepcopy(cfg.optim_wrapper)
    if device == 'cuda' and amp_dtype:
        ow_cfg.update(type='AmpOptimWrapper', dtype=amp_dtype, loss_scale='dynamic')
    else:  # float32: the pre-training schedule declares AmpOptimWrapper (GPU only)
        ow_cfg.type = 'OptimWrapper'
        for key in ('loss_scale', 'dtype'):
            ow_cfg.pop(key, None)
    logger = MMLogger.get_current_instance()
    level, _ = logger.level, logger.setLevel(logging.ERROR)  # "teacher.* is skipped" x 100
    try:
        return cfg, model, build_optim_wrapper(model, ow_cfg)
    finally:
        logger.setLevel(level)


def hand_crop(rng, size=256):
    """A synthetic 256 px hand crop: dark noise with a few coloured ellipses."""
    import cv2
    img = rng.integers(10, 40, (size, size, 3), dtype=np.uint8)
    for _ in range(6):
        center = tuple(int(v) for v in rng.integers(40, size - 40, 2))
        axes = (int(rng.integers(15, 70)), int(rng.integers(8, 30)))
        colour = tuple(int(c) for c in rng.integers(60, 255, 3))
        cv2.ellipse(img, center, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1)
    return img


def make_batches(cfg, batch, num, seed=0, device_augment=None):
    """``num`` collated batches from the config's HandMultiView + PackInputs.

    ``device_augment``: None keeps the config's choice; False makes the views on the CPU
    (the step then excludes augmentation, like a data loader's work); True leaves warps and
    photometric changes to the model's data preprocessor, inside the step (on a GPU).
    """
    pipeline = {t['type']: t for t in cfg.train_dataloader.dataset.pipeline}
    view_cfg = dict(pipeline['HandMultiView'])
    if device_augment is not None:
        view_cfg['device_augment'] = device_augment
    view = TRANSFORMS.build(view_cfg)
    pack = TRANSFORMS.build(pipeline['PackInputs'])
    rng = np.random.default_rng(seed)
    np.random.seed(seed)  # HandMultiView draws from numpy's global state
    images = [hand_crop(rng) for _ in range(min(batch, 16))]  # reused beyond 16
    return [default_collate([pack(view(dict(img=images[i % len(images)],
                                            img_path=f'synthetic_{i}.png')))
                             for i in range(batch)]) for _ in range(num)]


# --- one step ------------------------------------------------------------------------------
class Parts:
    """``record_function`` ranges around the parts of ``HandMIM.loss`` (instance-level
    wrappers, the model code is untouched); nested calls of one part open one range."""

    def __init__(self):
        self.current = None
        self.enabled = False

    @contextlib.contextmanager
    def __call__(self, name):
        if not self.enabled or self.current == name:
            yield
            return
        outer, self.current = self.current, name
        try:
            with torch.profiler.record_function(f'part:{name}'):
                yield
        finally:
            self.current = outer

    def wrap(self, obj, method, name):
        fn = getattr(obj, method)

        def wrapped(*args, **kwargs):
            with self(name):
                return fn(*args, **kwargs)

        setattr(obj, method, wrapped)

    def install(self, model):
        self.wrap(model, 'loss', 'projection heads + losses')  # the rest of loss()
        self.wrap(model.backbone, 'forward_features', 'student backbone')
        self.wrap(model.teacher.backbone, 'forward_features', 'teacher (no grad)')
        for method in ('forward', 'bottleneck', 'prototypes'):
            self.wrap(model.teacher.projection_head, method, 'teacher (no grad)')
        if model.decoder is not None:
            self.wrap(model.decoder, 'forward', 'pixel decoder + L1')
            l1 = handmim_module.masked_l1_loss
            if not getattr(l1, '_bench_wrapped', False):
                def masked_l1_loss(*args, **kwargs):
                    with self('pixel decoder + L1'):
                        return l1(*args, **kwargs)
                masked_l1_loss._bench_wrapped = True
                handmim_module.masked_l1_loss = masked_l1_loss


def train_step(model, optim_wrapper, batch, parts, autocast, device='cpu'):
    """``BaseModel.train_step`` (split so each part can be timed) + the teacher EMA.

    Returns the loss and the wall time of the coarse phases (forward, backward, optimizer,
    EMA), taken with perf_counter (no profiler)."""
    clock = [time.perf_counter()]

    def lap():
        sync(device)
        clock.append(time.perf_counter())

    with autocast():
        with parts('data preprocessor'):
            data = model.data_preprocessor(batch, True)
        losses = model(**data, mode='loss')
    with parts('other'):
        loss, _ = model.parse_losses(losses)
    lap()
    with parts('backward'):
        optim_wrapper.backward(loss)
    lap()
    with parts('optimizer (clip + AdamW)'):
        optim_wrapper.step()
        optim_wrapper.zero_grad()
    lap()
    with parts('teacher EMA'):
        model.update_teacher(0.996)
    lap()
    phases = dict(zip(('forward', 'backward', 'optimizer', 'teacher EMA'), np.diff(clock)))
    return float(loss.detach()), phases


def sync(device):
    if device == 'cuda':
        torch.cuda.synchronize()


def breakdown(prof, step_wall):
    """Seconds per part, forward (exclusive range time) and backward (autograd nodes charged
    to the part whose forward op created them, by sequence number)."""
    events = list(prof.events())
    ranges = sorted((e for e in events if e.name.startswith('part:')),
                    key=lambda e: (e.time_range.start, -e.time_range.end))
    fwd = dict.fromkeys(PARTS + ('backward', ), 0.)
    # exclusive time of each range: minus its directly nested ranges
    for r in ranges:
        inner = [c for c in ranges if c is not r and r.time_range.start <= c.time_range.start
                 and c.time_range.end <= r.time_range.end]
        direct = [c for c in inner if not any(
            o is not c and o.time_range.start <= c.time_range.start and
            c.time_range.end <= o.time_range.end for o in inner)]
        fwd[r.name[5:]] += (r.time_range.elapsed_us() -
                            sum(c.time_range.elapsed_us() for c in direct)) / 1e6

    def innermost(t, thread):
        best = None
        for r in ranges:
            if r.thread == thread and r.time_range.start <= t <= r.time_range.end and \
                    r.name != 'part:backward':
                best = r if best is None or r.time_range.start >= best.time_range.start \
                    else best
        return best.name[5:] if best is not None else 'other'

    bwd_nodes = [e for e in events if e.name.startswith('autograd::engine::evaluate_function')]
    needed = {(e.fwd_thread, e.sequence_nr) for e in bwd_nodes if e.sequence_nr >= 0}
    bwd_start = min((r.time_range.start for r in ranges if r.name == 'part:backward'),
                    default=float('inf'))
    seq_part = {}
    for e in sorted(events, key=lambda e: e.time_range.start):
        key = (e.thread, e.sequence_nr)
        if e.time_range.start >= bwd_start:
            break
        if key in needed:  # the last op that saw this number is the one that created the
            seq_part[key] = e  # node (ops that make no node see the next node's number)
    seq_part = {k: innermost(e.time_range.start, e.thread) for k, e in seq_part.items()}
    bwd = dict.fromkeys(PARTS, 0.)
    for e in bwd_nodes:
        part = seq_part.get((e.fwd_thread, e.sequence_nr), 'other')  # AccumulateGrad: other
        bwd[part] += e.time_range.elapsed_us() / 1e6
    engine = fwd.pop('backward') - sum(bwd.values())  # autograd engine bookkeeping
    bwd['other'] += max(engine, 0.)
    accounted = sum(fwd.values()) + sum(bwd.values())
    fwd['other'] += max(step_wall - accounted, 0.)  # outside every range (Python glue)
    return {p: (fwd[p], bwd[p]) for p in PARTS}


def scale_to_phases(raw, phases):
    """Seconds per part in a median timed step: the profiled step splits forward and
    backward among the model parts, the timed steps (no profiler) give the phase totals;
    optimizer and EMA are timed directly. Robust to one slow profiled step on a busy box."""
    direct = {'optimizer (clip + AdamW)': 'optimizer', 'teacher EMA': 'teacher EMA'}
    model_parts = [p for p in PARTS if p not in direct]
    fwd_total = sum(raw[p][0] for p in model_parts) or 1.
    bwd_total = sum(raw[p][1] for p in model_parts) or 1.
    out = {p: (raw[p][0] / fwd_total * phases['forward'],
               raw[p][1] / bwd_total * phases['backward']) for p in model_parts}
    out.update({p: (phases[k], 0.) for p, k in direct.items()})
    return {p: out[p] for p in PARTS}


def run_arch(arch, device, batch, steps, warmup, amp=None, profile=True):
    release_memory()
    reset_ok = reset_peak_rss()
    rss_before = (_status_kb('VmRSS') or 0) / 1024
    if device == 'cuda':
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    amp_dtype = dict(bf16='bfloat16', fp16='float16').get(amp) if amp else None
    cfg, model, optim_wrapper = build(arch, device, amp_dtype)
    n_params = sum(p.numel() for n, p in model.named_parameters() if not n.startswith('teacher'))
    t0 = time.perf_counter()
    # CPU: views made outside the step, as a data loader makes them (the paper configs leave
    # them to the GPU, where the preprocessor makes them inside the step)
    batches = make_batches(cfg, batch, min(steps + warmup, 3),
                           device_augment=None if device == 'cuda' else False)
    data_s = (time.perf_counter() - t0) / min(steps + warmup, 3)
    parts = Parts()
    parts.install(model)
    if device == 'cuda' and amp_dtype:
        autocast = lambda: optim_wrapper.optim_context(model)  # noqa: E731
    elif amp_dtype:
        autocast = lambda: torch.autocast('cpu', dtype=getattr(torch, amp_dtype))  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    times, cpu_times, phases, loss = [], [], [], None
    for i in range(warmup + steps):
        if i == warmup:
            snap = cpu_snapshot()
        batch_i = copy.deepcopy(batches[i % len(batches)])
        sync(device)
        t, c = time.perf_counter(), time.process_time()
        loss, phase = train_step(model, optim_wrapper, batch_i, parts, autocast, device)
        sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t)
            cpu_times.append(time.process_time() - c)
            phases.append(phase)
    result = dict(arch=f'ViT-{arch.upper()}', device=device, batch=batch, amp=amp or 'none',
                  threads=torch.get_num_threads(), params_student_M=round(n_params / 1e6, 1),
                  steps=steps, warmup=warmup, s_per_step_mean=statistics.mean(times),
                  s_per_step_median=statistics.median(times), s_per_step_best=min(times),
                  s_per_step_all=times, cpu_s_per_step_median=statistics.median(cpu_times),
                  phases_median_s={k: statistics.median(float(p[k]) for p in phases)
                                   for k in phases[0]},
                  loss=loss,
                  data_pipeline_s_per_batch=data_s)
    result['images_per_s'] = batch / result['s_per_step_mean']
    result['others_cpu_share_timed'] = others_cpu_share(snap, cpu_snapshot())
    if device == 'cuda':
        result['peak_gpu_mem_GiB'] = torch.cuda.max_memory_allocated() / 2**30
        result['peak_gpu_reserved_GiB'] = torch.cuda.max_memory_reserved() / 2**30
    elif profile:
        parts.enabled = True
        batch_p = copy.deepcopy(batches[0])
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            snap = cpu_snapshot()
            t = time.perf_counter()
            train_step(model, optim_wrapper, batch_p, parts, autocast, device)
            wall = time.perf_counter() - t
            result['others_cpu_share_profiled'] = others_cpu_share(snap, cpu_snapshot())
        parts.enabled = False
        result['profiled_step_s'] = wall
        result['parts_profiled_s'] = raw = breakdown(prof, wall)
        result['parts'] = scale_to_phases(raw, result['phases_median_s'])
    hwm, maxrss = peak_rss_mb()
    result.update(rss_before_MiB=rss_before, peak_rss_MiB=hwm if reset_ok else None,
                  ru_maxrss_MiB=maxrss, load_average=load_average())
    del model, optim_wrapper, batches
    return result


# --- report --------------------------------------------------------------------------------
def report(r):
    print(f"\n{r['arch']} on {r['device']}, batch {r['batch']} (2 global 224 px views each), "
          f"AMP {r['amp']}, {r['threads']} threads, {r['params_student_M']} M student params")
    print(f"  step: {r['s_per_step_mean']:.3f} s mean, {r['s_per_step_median']:.3f} s median, "
          f"{r['s_per_step_best']:.3f} s best over {r['steps']} steps after {r['warmup']} "
          f"warm-up (all: {', '.join(f'{t:.2f}' for t in r['s_per_step_all'])}) -> "
          f"{r['images_per_s']:.2f} images/s at the mean, "
          f"{r['batch'] / r['s_per_step_best']:.2f} at the best (loss {r['loss']:.3f})")
    print(f"  process CPU time: {r['cpu_s_per_step_median']:.2f} s/step (median; all threads)")
    print('  phases (median of the timed steps): ' + ', '.join(
        f'{k} {v:.3f} s' for k, v in r['phases_median_s'].items()))
    if 'peak_gpu_mem_GiB' in r:
        print(f"  peak GPU memory: {r['peak_gpu_mem_GiB']:.2f} GiB allocated, "
              f"{r['peak_gpu_reserved_GiB']:.2f} GiB reserved")
    peak = (f"{r['peak_rss_MiB']:.0f} MiB" if r['peak_rss_MiB'] is not None else 'n/a')
    print(f"  peak RSS during this run: {peak} (RSS before building: "
          f"{r['rss_before_MiB']:.0f} MiB; process ru_maxrss {r['ru_maxrss_MiB']:.0f} MiB)")
    print(f"  data pipeline (HandMultiView + pack + collate, 1 process): "
          f"{r['data_pipeline_s_per_batch']:.2f} s/batch")
    if 'parts' in r:
        prof = r['profiled_step_s']
        print(f"  per part (forward/backward split of one profiled step, {prof:.2f} s, "
              f"{100 * (prof / r['s_per_step_median'] - 1):+.0f} % vs. the median step; scaled "
              "to the median timed phases):")
        total = sum(f + b for f, b in r['parts'].values())
        print(f"    {'part':<28}{'forward s':>11}{'backward s':>12}{'total s':>10}{'share':>8}"
              f"{'profiled s':>12}")
        for name, (f, b) in r['parts'].items():
            raw = sum(r['parts_profiled_s'][name])
            print(f"    {name:<28}{f:>11.3f}{b:>12.3f}{f + b:>10.3f}"
                  f"{100 * (f + b) / total:>7.1f}%{raw:>12.3f}")
    others = [f'{name} {100 * r[k]:.0f} %' for name, k in (
        ('timed steps', 'others_cpu_share_timed'), ('profiled step', 'others_cpu_share_profiled'))
        if r.get(k) is not None]
    print(f"  load average (1, 5, 15 min) after: {r['load_average']}" +
          (f"; CPU capacity used by other processes: {', '.join(others)}" if others else ''))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', nargs='+', choices=sorted(CONFIGS), default=['s', 'b'])
    p.add_argument('--batch', type=int, default=8, help='CPU batch (images; 2 views each)')
    p.add_argument('--steps', type=int, default=3, help='timed steps per architecture')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps first')
    p.add_argument('--threads', type=int, help='torch CPU threads (default: torch default)')
    p.add_argument('--amp', choices=('none', 'bf16'), default='none',
                   help='CPU autocast dtype for the CPU run')
    p.add_argument('--no-profile', action='store_true', help='skip the per-part breakdown')
    p.add_argument('--gpu-batch', type=int, default=128)
    p.add_argument('--gpu-steps', type=int, default=5)
    p.add_argument('--gpu-amp', nargs='+', choices=('fp16', 'bf16'), default=['fp16', 'bf16'],
                   help='AMP dtypes measured on CUDA (fp16 is what tools/train.py --amp uses)')
    p.add_argument('--no-gpu', action='store_true', help='CPU only even if CUDA is there')
    p.add_argument('--json', help='also write the results to this JSON file')
    args = p.parse_args(argv)
    if min(args.batch, args.steps, args.gpu_batch, args.gpu_steps) < 1 or args.warmup < 0:
        p.error('--batch, --steps, --gpu-batch, --gpu-steps must be >= 1, --warmup >= 0')
    return args


def main(argv=None):
    args = parse_args(argv)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights chatter
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f'torch {torch.__version__}, {os.cpu_count()} CPUs, {torch.get_num_threads()} torch '
          f'threads, load average {load_average()}')
    results = []
    for arch in args.arch:
        results.append(run_arch(arch, 'cpu', args.batch, args.steps, args.warmup,
                                None if args.amp == 'none' else args.amp,
                                profile=not args.no_profile))
        report(results[-1])
    if torch.cuda.is_available() and not args.no_gpu:
        print(f'\nCUDA: {torch.cuda.get_device_name(0)}')
        for arch in args.arch:
            for dtype in args.gpu_amp:
                if dtype == 'bf16' and not torch.cuda.is_bf16_supported():
                    print('  bf16 not supported on this GPU; skipped')
                    continue
                results.append(run_arch(arch, 'cuda', args.gpu_batch, args.gpu_steps, 2,
                                        dtype, profile=False))
                report(results[-1])
    elif not args.no_gpu:
        print('\nno CUDA device: GPU throughput at batch '
              f'{args.gpu_batch} with AMP not measured')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
