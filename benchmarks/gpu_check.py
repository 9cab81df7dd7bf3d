"""One-call GPU check: environment, training-step throughput and MFU, inference, the tools,
numerics; about 8 minutes on one GPU, a Markdown table on stdout and ``OUT/gpu_check.json``.

Usage: python benchmarks/gpu_check.py --out DIR [--cpu-smoke] [--budget-s 480]

Sections (each timed and guarded: a failing one is recorded with its error line and the others
still run; a section whose estimated time no longer fits the budget is skipped and listed):

1. environment: device, torch / CUDA / cuDNN / NCCL versions, bf16 support, the compat fixes
   of ``mmhandmim.compat`` that applied (flagged on a GPU machine unless expected anywhere:
   ``mim_config_paths`` always applies, ``mmcv_ops`` with the pinned mmcv-lite).
2. pre-training step of ``configs/handmim_vit-{s,b}.py`` (2 global 224 px views, no local
   crops in these configs; the configs' ``device_augment``: the step includes making the
   views from the 256 px crops in ``HandViewDataPreprocessor``, warps and colour on the GPU)
   at the config's batch (128), bf16 autocast and fp16 with dynamic
   loss scaling (AmpOptimWrapper): images/s, peak GPU memory, counted FLOPs per step and MFU
   against the dense peak of the device (table in ``gpu_check_parts.PEAK_TFLOPS``; unknown:
   null); the profiler's top three ops when MFU < 40 %. The counted FLOPs of one ViT forward
   are printed next to the analytic count, and the real ViT-S/16 (~9.2 GFLOP) always.
3. fine-tuning step of ``configs/mesh/handmim-{s,b}_pymaf_freihand.py`` (stand-in hand model,
   random crops with every label the head's loss reads), same metrics.
4. inference: ViT-S mesh model, fp32 and bf16 autocast, latency at batch 1 (the paper: 40 FPS
   on a V100; target 10x that) and throughput at batch 64, the head + MANO share of the fp32
   forward (time and FLOPs).
5. numerics: the same fp32 weights on CPU and GPU (TF32 off) agree within stated tolerances;
   the bf16-autocast loss is within 2 % of the fp32 loss on one batch (pre-training, mesh).
6. the tool path on 1 GPU (``gpu_check_tools.py``): generated data, ``tools/dist_train.sh
   CONFIG 1`` (NCCL) on the demo configs shrunk to 2 iterations an epoch, ``--resume``,
   ``tools/test.py``.

``--cpu-smoke`` runs the same code at toy sizes on CPU (ViTs of width 64/96, 3 blocks, 32 px,
batch 2, 2 timed steps; fp32 and CPU bf16 autocast with a float32 OptimWrapper, since
AmpOptimWrapper needs a GPU; the tools with gloo; numerics CPU fp32 against CPU fp64), so the
script is exercised by the test suite (``tests/test_benchmarks``) between GPU loans.
Exit code 0 when no section failed, 1 otherwise (the JSON is written either way).
"""
import argparse
import json
import os
import platform
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _path in (ROOT, os.path.join(ROOT, 'benchmarks')):
    if _path not in sys.path:
        sys.path.insert(0, _path)

# mmengine's import of pkg_resources warns once per config with custom_imports: noise here
warnings.filterwarnings('ignore', message='pkg_resources is deprecated')
import mmhandmim  # noqa: E402,F401  (compat fixes + registrations, before mmengine)
import torch  # noqa: E402

from gpu_check_parts import Context, guarded  # noqa: E402
from gpu_check_sections import (finetune_section, inference_section, numerics_section,  # noqa
                                pretrain_section)
from gpu_check_tools import tool_path_section  # noqa: E402
from mmhandmim.utils.atomic_io import atomic_write_text  # noqa: E402

#: compat fixes that apply on any machine with the pinned stack (not a sign of a bad GPU set-up)
COMPAT_EXPECTED = {
    'mim_config_paths': 'mmengine resolves mmhandmim:: config paths only through this fix',
    'mmcv_ops': 'mmcv-lite (requirements/lock.txt) has no compiled ops; not used here',
}


# --- 1. environment ------------------------------------------------------------------------
def versions():
    out = dict(python=platform.python_version(), torch=torch.__version__,
               cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), nccl=None)
    try:
        nccl = torch.cuda.nccl.version()
        out['nccl'] = '.'.join(map(str, nccl)) if isinstance(nccl, tuple) else str(nccl)
    except Exception:  # noqa: BLE001 - a CPU build has no NCCL
        pass
    for pkg in ('mmengine', 'mmcv', 'mmpretrain', 'mmpose'):
        try:
            out[pkg] = __import__(pkg).__version__
        except Exception as exc:  # noqa: BLE001
            out[pkg] = f'not importable: {exc}'
    return out


def environment_section(ctx):
    from mmhandmim import compat
    env = dict(device=ctx.device_name, mode=ctx.mode, cpu_count=os.cpu_count(),
               torch_threads=torch.get_num_threads(), **versions(),
               compat_applied=list(compat.APPLIED))
    if ctx.device == 'cuda':
        p = torch.cuda.get_device_properties(0)
        env.update(gpu_count=torch.cuda.device_count(), gpu_memory_GiB=p.total_memory / 2**30,
                   compute_capability=f'{p.major}.{p.minor}', sm_count=p.multi_processor_count,
                   bf16_supported=torch.cuda.is_bf16_supported(),
                   tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                   tf32_cudnn=torch.backends.cudnn.allow_tf32)
    else:
        env.update(bf16_supported=True, bf16_note='CPU autocast (bf16 emulated where the CPU '
                   'has no native bf16)', cpu_capability=torch.backends.cpu.get_cpu_capability())
    unexpected = [f for f in compat.APPLIED if f not in COMPAT_EXPECTED]
    env['compat_expected'] = {f: COMPAT_EXPECTED[f] for f in compat.APPLIED
                              if f in COMPAT_EXPECTED}
    # on a good GPU machine no stack repair should be needed; on CPU they are the point
    env['compat_flag'] = unexpected if ctx.device == 'cuda' else []
    env['warnings'] = ([f'compat fixes applied on a GPU machine: {", ".join(unexpected)}']
                       if env['compat_flag'] else [])
    if ctx.device == 'cuda' and not env['bf16_supported']:
        env['warnings'].append('no bf16 on this GPU: the bf16 runs will fail or be slow')
    return env


SECTIONS = (
    ('environment', environment_section, None),
    ('pretrain_step', pretrain_section, 'step_item'),
    ('finetune_step', finetune_section, 'step_item'),
    ('inference', inference_section, 'infer'),
    ('numerics', numerics_section, 'numerics'),
    ('tool_path', tool_path_section, 'tool_path'),
)


def run_sections(ctx):
    """Every section, guarded and timed; skipped once its estimate no longer fits."""
    report = {}
    for name, fn, estimate in SECTIONS:
        need = ctx.estimates[estimate] if estimate else 0
        if estimate and not ctx.budget.allows(need):  # the environment always runs
            report[name] = dict(status='skipped', wall_s=0.,
                                error=f'budget: {ctx.budget.left():.0f} s left, needs ~{need} s')
            ctx.log(f'{name}: skipped ({report[name]["error"]})')
            continue
        ctx.log(f'{name} ...')
        t = time.perf_counter()
        status, result = guarded(fn, ctx)
        entry = dict(status=status, wall_s=time.perf_counter() - t)
        if status == 'ok':
            errors = result.get('errors') or []
            if errors:  # items failed inside; the section ran
                entry.update(status='error', error=errors[0] + (
                    f' (+{len(errors) - 1} more)' if len(errors) > 1 else ''))
            elif result.get('skipped'):
                entry['status'] = 'partial'
            entry['result'] = result
        else:
            entry.update(result)
        report[name] = entry
        ctx.log(f'{name}: {entry["status"]} in {entry["wall_s"]:.1f} s' +
                (f' ({entry["error"]})' if 'error' in entry else ''))
    return report


# --- report ----------------------------------------------------------------------------------
def fmt(v, spec='.3g'):
    if v is None:
        return 'n/a'
    return format(v, spec) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


def table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + ' --- |' * len(header)]
    return lines + ['| ' + ' | '.join(str(c).replace('|', '/') for c in r) + ' |'
                    for r in rows]


def section_notes(name, e):
    r = e.get('result') or {}
    if name == 'environment' and r:
        return (f"torch {r['torch']}, CUDA {r['cuda']}, cuDNN {r['cudnn']}, NCCL {r['nccl']}, "
                f"bf16 {r['bf16_supported']}, compat applied {r['compat_applied'] or 'none'}"
                + (f"; WARNING {'; '.join(r['warnings'])}" if r['warnings'] else ''))
    if name == 'numerics' and r:
        return 'all within tolerance' if r['all_passed'] else 'OUT OF TOLERANCE'
    if name == 'tool_path' and r:
        return ', '.join(f"{s['step']} rc {s['exit_code']}" for s in r['steps'])
    if r.get('skipped'):
        return 'skipped: ' + '; '.join(r['skipped'])
    return ''


def markdown(doc):
    sec = doc['sections']
    out = [f"# gpu_check: {doc['device']} ({doc['mode']}), {doc['started']}", '',
           f"Total {doc['wall_s']:.0f} s of a {doc['budget_s']:.0f} s budget.", '']
    out += table(('section', 'status', 'time s', 'error / note'), [
        (k, e['status'], fmt(e['wall_s'], '.1f'), e.get('error') or section_notes(k, e))
        for k, e in sec.items()])
    steps = [(k, r) for k in ('pretrain_step', 'finetune_step')
             for r in (sec.get(k, {}).get('result') or {}).get('runs', [])]
    if steps:
        out += ['', '## Training steps', '', 'FLOPs: ' + doc['flops_how'] + '.', '']
        out += table(('step', 'model', 'precision', 'batch', 'images/s', 's/step',
                      'peak GPU GiB', 'GFLOP/step', 'TFLOPS', 'MFU', 'top costs / error'), [
            (k.split('_')[0], r['model'], r['precision'], r.get('batch'),
             fmt(r.get('images_per_s')), fmt(r.get('s_per_step_median')),
             fmt(r.get('peak_gpu_GiB')), fmt(r.get('gflop_per_step')),
             fmt(r.get('achieved_tflops')),
             'n/a' if r.get('mfu') is None else f"{100 * r['mfu']:.1f} %",
             r.get('error') or ', '.join(f"{o['op']} {100 * o['share']:.0f} %" for o in
                                         (r.get('top_costs') or {}).get('ops', [])))
            for k, r in steps])
    flops = [f for k in ('pretrain_step', 'finetune_step')
             for f in (sec.get(k, {}).get('result') or {}).get('forward_flops', [])
             if 'counted_flops' in f]
    if flops:
        out += ['', '## One ViT forward (batch 1): counted vs analytic', '',
                'analytic: per block 24*N*D^2 + 4*N^2*D (N tokens incl. class token, width '
                'D, MLP ratio 4) + patch embedding 2*patches*3*P^2*D; ViT-S/16 at 224 px is '
                '~9.2 GFLOP (4.6 G multiply-adds)', '']
        out += table(('model', 'device', 'D', 'blocks', 'N', 'counted GFLOP', 'G MACs',
                      'analytic GFLOP', 'counted/analytic'), [
            (f['model'], f['device'], f['embed_dims'], f['num_layers'], f['tokens'],
             fmt(f['counted_gflop'], '.4g'), fmt(f['counted_gmacs'], '.4g'),
             fmt(f['analytic_flops'] / 1e9, '.4g'), fmt(f['counted_over_analytic'], '.4f'))
            for f in flops])
    inf = (sec.get('inference') or {}).get('result')
    if inf:
        out += ['', f"## Inference: {inf['model']}", '',
                f"batch 1: {inf['fps_batch1']:.1f} FPS fp32, best "
                f"{inf['best_fps_batch1']:.1f} (paper: {inf['paper_fps_v100']:.0f} FPS on a "
                f"V100; target {inf['target_fps']:.0f}: "
                f"{'met' if inf['target_met_batch1'] else 'NOT met'}); head + MANO "
                f"{100 * inf['head_mano_flops_share']:.1f} % of the FLOPs", '']
        out += table(('precision', 'batch', 'ms/call', 'ms/image', 'images/s',
                      'head+MANO share of time'),
                     [('fp32', r['batch'], fmt(r['ms_per_call']), fmt(r['ms_per_image']),
                       fmt(r['images_per_s']), f"{100 * r['head_mano_time_share']:.1f} %")
                      for r in inf['rows']] +
                     [('bf16 autocast', r['batch'], fmt(r['ms_per_call']),
                       fmt(r['ms_per_image']), fmt(r['images_per_s']), '')
                      for r in inf['bf16_rows']])
    num = (sec.get('numerics') or {}).get('result')
    if num:
        out += ['', '## Numerics', '']
        rows = []
        for c in num['checks']:
            if c['status'] != 'ok':
                rows.append((c['check'], 'error', '', c['error']))
            elif 'max_abs_diff' in c:
                rows += [(f"{c['check']}: {k} ({c['candidate']} vs {c['reference']})",
                          fmt(v), fmt(c['tolerance'][k]), 'ok' if c['passed'][k] else 'FAIL')
                         for k, v in c['max_abs_diff'].items()]
            else:
                rows.append((f"{c['check']}: rel. diff (fp32 {c['loss_fp32']:.5g}, bf16 "
                             f"{c['loss_bf16']:.5g})", fmt(c['rel_diff']), fmt(c['rtol']),
                             'ok' if c['passed'] else 'FAIL'))
        out += table(('check', 'value', 'tolerance', 'result'), rows)
    tools = (sec.get('tool_path') or {}).get('result')
    if tools:
        out += ['', '## Tool path', '']
        out += table(('step', 'exit code', 'wall s', 'backend', 'note'), [
            (s['step'], s['exit_code'], fmt(s['wall_s'], '.1f'), s.get('backend') or '',
             s.get('last_line') or ', '.join(f'{k} {s[k]}' for k in
                                             ('resumed', 'validated', 'pa_mpjpe_mm') if k in s))
            for s in tools['steps']])
    return '\n'.join(out) + '\n'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True, help='folder for gpu_check.json/.md and tool data')
    p.add_argument('--cpu-smoke', action='store_true',
                   help='the same code paths at toy sizes on CPU (no GPU needed)')
    p.add_argument('--budget-s', type=float, default=480.,
                   help='wall-clock budget; sections that no longer fit are skipped')
    args = p.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        p.error('no CUDA device is available; --cpu-smoke runs the toy version on CPU')
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    ctx = Context('cpu-smoke' if args.cpu_smoke else 'gpu', os.path.abspath(args.out),
                  args.budget_s)
    started = time.strftime('%Y-%m-%d %H:%M:%S')
    sections = run_sections(ctx)
    from gpu_check_parts import FLOPS_HOW
    doc = dict(mode=ctx.mode, device=ctx.device_name, started=started,
               budget_s=args.budget_s, wall_s=ctx.budget.elapsed(), flops_how=FLOPS_HOW,
               sections=sections)
    md = markdown(doc)
    atomic_write_text(json.dumps(doc, indent=1, default=str), os.path.join(args.out,
                                                                          'gpu_check.json'))
    atomic_write_text(md, os.path.join(args.out, 'gpu_check.md'))
    print('\n' + md, flush=True)
    return 1 if any(e['status'] == 'error' for e in sections.values()) else 0


if __name__ == '__main__':
    sys.exit(main())
