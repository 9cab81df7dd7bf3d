"""CPU step time of our iBOT and HandMIM pre-training against the official iBOT code, side by
side in one process.

Usage: python benchmarks/bench_vs_ibot.py --ibot-repo PATH [--batch 8] [--rounds 3]
           [--steps 1] [--warmup 1] [--threads 2] [--official-head {readme,defaults}]
           [--profile | --no-profile] [--json OUT]

PATH is a local clone of https://github.com/bytedance/ibot (not shipped with mmhandmim, not
downloaded by this script): ``git clone https://github.com/bytedance/ibot /tmp/ibot_src``.
``bench_vs_ibot_official.py`` builds the official ViT-S/16 student + teacher, iBOTHead, iBOTLoss,
AdamW, clipping and teacher EMA from it and lists the patches needed to run it on CPU (none
edits the clone). Ours are ``configs/handmim/ibot_vit-s.py`` (our iBOT) and
``configs/handmim_vit-s.py`` (full HandMIM), built and stepped by ``bench_pretrain_step.py``
(data preprocessor, loss forward, backward, clip + AdamW, teacher EMA).

Same work for all: ViT-S/16, 224 px, ``--batch`` images x 2 global views, no local crops,
block masks (ratio 0 or 0.1-0.5, half each), float32, ``--threads`` torch threads. Batches
are made before timing (each side with its own data pipeline). After one warm-up step each,
every round times a block of ``--steps`` steps per model, in turn, so that load from other
processes falls on all of them alike. Reported: median, best and process-CPU s/step per
model, the ratios ours/official of each and the median of the per-round ratios, the phases
and the load average. The issue's targets, checked on the median wall time: our iBOT <=
0.8x official, HandMIM <= 0.9x. When a target is missed (or with ``--profile``), one
profiled step per model lists the top CPU ops.
"""
import argparse
import contextlib
import copy
import inspect
import json
import logging
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import bench_pretrain_step as bps  # noqa: E402  (imports mmhandmim first)
import torch  # noqa: E402
from mmengine.logging import MMLogger  # noqa: E402

import bench_vs_ibot_official as official  # noqa: E402
from mmhandmim.utils.cli import user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402

PROG = 'bench_vs_ibot.py'
GET_IBOT = ('--ibot-repo PATH is required: a local clone of the official iBOT code, e.g. '
            'git clone https://github.com/bytedance/ibot /tmp/ibot_src, then pass '
            '--ibot-repo /tmp/ibot_src')
#: --only key -> (name, config, target ratio ours/official: the issue's)
OURS = {'ibot': ('ours: iBOT', 'configs/handmim/ibot_vit-s.py', 0.8),
        'handmim': ('ours: HandMIM', 'configs/handmim_vit-s.py', 0.9)}
OFFICIAL = 'official iBOT'


class Runner:
    """One model to time: ``step(i)`` runs a training step on its i-th batch (a fresh copy,
    made outside the timing) and returns (wall s, process CPU s, phases)."""

    def __init__(self, name, source, step_fn, batches, num_params, copy_batch):
        self.name, self.source, self.step_fn = name, source, step_fn
        self.batches, self.num_params, self.copy_batch = batches, num_params, copy_batch
        self.times, self.cpu, self.phases, self.rounds, self.loss = [], [], [], [], None

    def step(self, i):
        batch = self.batches[i % len(self.batches)]
        batch = copy.deepcopy(batch) if self.copy_batch else batch
        t, c = time.perf_counter(), time.process_time()
        self.loss, phases = self.step_fn(batch)
        return time.perf_counter() - t, time.process_time() - c, phases


def build_official(ib, batch, head, num):
    args = official.official_args(ib, batch, head)
    torch.manual_seed(0)
    model = official.OfficialIBOT(ib, args)
    head_txt = ('README ViT-S/16 recipe' if head == 'readme' else 'parser defaults') + (
        f', shared_head={args.shared_head}, norm_last_layer={args.norm_last_layer}')
    source = f'{os.path.basename(ib.repo)}/main_ibot.py ({head_txt})'
    return Runner(OFFICIAL, source, model.train_step,
                  official.official_batches(ib, args, batch, num), model.num_params(), False)


def build_ours(name, config, target, batch, num):
    key = f'bench_vs_ibot:{config}'
    bps.CONFIGS[key] = config  # bps.build reads the config path from this table
    torch.manual_seed(0)
    cfg, model, optim_wrapper = bps.build(key, 'cpu')
    parts = bps.Parts()  # disabled: no record_function ranges

    def step(batch_):
        return bps.train_step(model, optim_wrapper, batch_, parts, contextlib.nullcontext)

    n = sum(p.numel() for n_, p in model.named_parameters()
            if not n_.startswith('teacher') and p.requires_grad)
    # views made outside the step, as the official loader makes them (a config's
    # device_augment=True would move warps + colour jitter into the data preprocessor)
    kwargs = dict(device_augment=False) if 'device_augment' in inspect.signature(
        bps.make_batches).parameters else {}
    runner = Runner(name, config, step, bps.make_batches(cfg, batch, num, **kwargs), n, True)
    runner.model, runner.target = model, target
    return runner


def time_interleaved(runners, rounds, steps, warmup):
    """Warm-up steps per model, then ``rounds`` rounds of one timed block per model."""
    for r in runners:
        for i in range(warmup):
            r.step(i)
    snap = bps.cpu_snapshot()
    for k in range(rounds):
        for r in runners:
            block = [r.step(warmup + k * steps + i) for i in range(steps)]
            r.times += [b[0] for b in block]
            r.cpu += [b[1] for b in block]
            r.phases += [b[2] for b in block]
            r.rounds.append(statistics.median(b[0] for b in block))
        print(f'  round {k + 1}/{rounds}: ' + ', '.join(
            f'{r.name} {r.rounds[-1]:.2f} s' for r in runners) +
            f'; load average {bps.load_average()}', flush=True)
    return bps.others_cpu_share(snap, bps.cpu_snapshot())


#: the ratio estimates: name -> (statistic of a model's steps, what it is robust to)
STATS = {'median wall': lambda r: statistics.median(r.times),
         'best wall': lambda r: min(r.times),
         'median CPU': lambda r: statistics.median(r.cpu)}


def summarise(runners):
    """Per model: step-time statistics, phases; for ours the ratios to the official code
    (each statistic of STATS, and the median of the per-round ratios of block medians)."""
    ref = runners[0]
    rows = []
    for r in runners:
        row = dict(name=r.name, source=r.source, params_M=round(r.num_params / 1e6, 2),
                   s_per_step_all=r.times, cpu_s_per_step_all=r.cpu, round_medians=r.rounds,
                   loss=r.loss, stats={k: f(r) for k, f in STATS.items()},
                   phases_median_s={k: statistics.median(float(p[k]) for p in r.phases)
                                    for k in r.phases[0]})
        if r is not ref:
            row['ratios'] = {k: f(r) / f(ref) for k, f in STATS.items()}
            row['ratios']['per-round'] = statistics.median(
                a / b for a, b in zip(r.rounds, ref.rounds))
            row.update(target=r.target, met=row['ratios']['median wall'] <= r.target)
        rows.append(row)
    return rows


def markdown(rows, args, load_before, load_after, others):
    print(f'\nViT-S/16, 224 px, batch {args.batch} x 2 global views, float32, '
          f'{torch.get_num_threads()} torch threads, {args.rounds} rounds x {args.steps} '
          f'timed step(s) per model after {args.warmup} warm-up; torch {torch.__version__}, '
          f'{os.cpu_count()} CPUs\n')
    print('| model | code / config | student params (M) | ' + ' | '.join(
        f'{k} s/step' for k in STATS) + ' | all steps, wall (s) |')
    print('|---|---|---|' + '---|' * len(STATS) + '---|')
    for r in rows:
        print(f"| {r['name']} | {r['source']} | {r['params_M']} | " + ' | '.join(
            f'{v:.2f}' for v in r['stats'].values()) +
            f" | {', '.join(f'{t:.2f}' for t in r['s_per_step_all'])} |")
    ours = [r for r in rows if 'ratios' in r]
    keys = list(ours[0]['ratios']) if ours else []
    print('\n| ours / official | ' + ' | '.join(keys) + ' | target (median wall) | met |')
    print('|---|' + '---|' * len(keys) + '---|---|')
    for r in ours:
        print(f"| {r['name']} | " + ' | '.join(f"{r['ratios'][k]:.2f}" for k in keys) +
              f" | <= {r['target']} | {'yes' if r['met'] else '**no**'} |")
    print('\n| model (median of timed steps) | forward s | backward s | optimizer s | '
          'teacher EMA s |')
    print('|---|---|---|---|---|')
    for r in rows:
        p = r['phases_median_s']
        print(f"| {r['name']} | {p['forward']:.2f} | {p['backward']:.2f} | "
              f"{p['optimizer']:.3f} | {p['teacher EMA']:.3f} |")
    share = f'; CPU capacity used by other processes while timing: {100 * others:.0f} %' \
        if others is not None else ''
    print(f'\nload average (1, 5, 15 min): {load_before} before, {load_after} after{share}')
    print('(ours: forward includes the data preprocessor; official: its data loader '
          'normalises, outside the step. CPU: process CPU seconds per step, all threads; '
          'less sensitive than wall time to other processes taking the cores)')


def profile_top(runners, top):
    """One profiled step per model; the ops with the most self CPU time, side by side."""
    per_model = {}
    for r in runners:
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            r.step(0)
        per_model[r.name] = {e.key: e.self_cpu_time_total / 1e6 for e in prof.key_averages()}
    names = []
    for times in per_model.values():
        for op in sorted(times, key=times.get, reverse=True)[:top]:
            if op not in names:
                names.append(op)
    names.sort(key=lambda op: -max(t.get(op, 0.) for t in per_model.values()))
    print(f'\nTop CPU ops, self time in one profiled step (s; top {top} of each model):\n')
    print('| op | ' + ' | '.join(per_model) + ' |')
    print('|---|' + '---|' * len(per_model))
    for op in names:
        print(f'| {op} | ' + ' | '.join(f'{t.get(op, 0.):.3f}' for t in per_model.values()) +
              ' |')
    print('| total (all ops) | ' + ' | '.join(f'{sum(t.values()):.2f}'
                                             for t in per_model.values()) + ' |')
    return per_model


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n')[0])
    p.add_argument('--ibot-repo', help='local clone of https://github.com/bytedance/ibot')
    p.add_argument('--batch', type=int, default=8, help='images per step (2 views each)')
    p.add_argument('--rounds', type=int, default=3, help='interleaved timing rounds')
    p.add_argument('--steps', type=int, default=1, help='timed steps per model and round')
    p.add_argument('--warmup', type=int, default=1, help='untimed steps per model first')
    p.add_argument('--threads', type=int, default=2, help='torch CPU threads')
    p.add_argument('--official-head', choices=('readme', 'defaults'), default='readme',
                   help="official head: the README's ViT-S/16 recipe (shared head, learned "
                   "last-layer gain, as ours) or main_ibot.py's parser defaults")
    p.add_argument('--only', nargs='+', choices=list(OURS), default=list(OURS),
                   help='which of ours to time against the official code')
    prof = p.add_mutually_exclusive_group()
    prof.add_argument('--profile', action='store_true', help='always profile the top ops')
    prof.add_argument('--no-profile', action='store_true', help='never profile')
    p.add_argument('--top', type=int, default=12, help='ops per model in the profile table')
    p.add_argument('--json', help='also write the results to this JSON file')
    args = p.parse_args(argv)
    if min(args.batch, args.rounds, args.steps, args.threads, args.top) < 1 or args.warmup < 0:
        p.error('--batch, --rounds, --steps, --threads, --top must be >= 1, --warmup >= 0')
    if not args.ibot_repo:
        raise UserInputError(GET_IBOT)
    return args


def main(argv=None):
    args = parse_args(argv)
    ib = official.load_official(args.ibot_repo)
    MMLogger.get_current_instance().setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    load_before = bps.load_average()
    print(f'{PROG}: {torch.get_num_threads()} torch threads, load average {load_before}; '
          'building the models and batches', flush=True)
    num = min(args.warmup + args.rounds * args.steps, 3)
    runners = [build_official(ib, args.batch, args.official_head, num)]
    runners += [build_ours(*OURS[key], args.batch, num) for key in args.only]
    others = time_interleaved(runners, args.rounds, args.steps, args.warmup)
    rows = summarise(runners)
    markdown(rows, args, load_before, bps.load_average(), others)
    missed = [r['name'] for r in rows if r.get('met') is False]
    result = dict(rows=rows, load_before=load_before, load_after=bps.load_average(),
                  others_cpu_share=others, threads=torch.get_num_threads(), batch=args.batch)
    if args.profile or (missed and not args.no_profile):
        print(f"\nprofiling{' (target missed: ' + ', '.join(missed) + ')' if missed else ''}")
        result['profile_self_cpu_s'] = profile_top(runners, args.top)
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == '__main__':
    with user_errors(PROG):
        main()
