"""Markdown table, JSON record and partial fine-tuning plot of the proxy study."""
import json
import os.path as osp

import numpy as np

METRICS = (('pa_mpjpe', 'PA-MPJPE (mm)', 2), ('pa_mpvpe', 'PA-MPVPE (mm)', 2),
           ('pa_f5', 'F@5', 3), ('pa_f15', 'F@15', 3))
INIT_ORDER = ('scratch', 'ibot', 'handmim', 'no-pose', 'no-patch', 'no-recon')
INIT_LABEL = {
    'scratch': 'from scratch (no pre-training)',
    'ibot': 'iBOT baseline',
    'handmim': 'HandMIM (all three losses)',
    'no-pose': 'HandMIM without L_pose',
    'no-patch': 'HandMIM without L_patch',
    'no-recon': 'HandMIM without L_recon',
}


def mean_std(values, digits):
    v = np.asarray(values, dtype=np.float64)
    spread = v.std(ddof=1) if len(v) > 1 else 0.0
    return f'{v.mean():.{digits}f} ± {spread:.{digits}f}'


#: the preset's fine-tuning lr (runs recorded before lr sweeps existed carry no ``lr``)
DEFAULT_LR = 1e-3


def _order(init):
    return (INIT_ORDER.index(init) if init in INIT_ORDER else len(INIT_ORDER), init)


def _label(init):
    """``handmim``, ``handmim_e16`` (16 pre-training epochs), ``ibot_p4096`` (4096
    prototypes) -> a table label."""
    base, *sweeps = init.split('_')
    words = {'e': 'pre-training epochs', 'p': 'prototypes', 't': 'teacher temperature'}
    return ', '.join([INIT_LABEL.get(base, base)] +
                     [f'{s[1:]} {words.get(s[0], s[0])}' for s in sweeps])


def _lr(r):
    return r.get('lr', DEFAULT_LR)


def _select(ft, init, frozen, lr=DEFAULT_LR):
    return sorted((r for r in ft if r['init'] == init and r['frozen'] == frozen and
                   _lr(r) == lr), key=lambda r: r['seed'])


def fine_tune_table(ft):
    lines = ['| initialisation | ' + ' | '.join(m[1] for m in METRICS) + ' | seeds |',
             '| --- |' + ' --- |' * (len(METRICS) + 1)]
    for init in INIT_ORDER:
        rows = _select(ft, init, 0)
        if rows:
            cells = [mean_std([r['metrics'][k] for r in rows], d) for k, _, d in METRICS]
            lines.append(f'| {INIT_LABEL[init]} | ' + ' | '.join(cells) + f' | {len(rows)} |')
    return lines


def partial_table(ft, frozen_ks, num_blocks):
    ks = sorted({0, *frozen_ks, *(r['frozen'] for r in ft)})
    inits = ('handmim', 'ibot', 'scratch')
    lines = ['| frozen blocks k | ' + ' | '.join(
        f'{INIT_LABEL[i]} PA-MPJPE (mm)' for i in inits) + ' |', '| --- |' + ' --- |' * 3]
    for k in ks:
        cells = []
        for i in inits:
            rows = _select(ft, i, k)
            cells.append(mean_std([r['metrics']['pa_mpjpe'] for r in rows], 2) if rows else '')
        note = ' (whole backbone frozen)' if k == num_blocks else ''
        lines.append(f'| {k}{note} | ' + ' | '.join(cells) + ' |')
    return lines


def lr_table(ft, lrs):
    lines = ['| initialisation | fine-tuning lr | ' + ' | '.join(m[1] for m in METRICS) + ' |',
             '| --- | --- |' + ' --- |' * len(METRICS)]
    for init in ('scratch', 'ibot', 'handmim'):
        for lr in (DEFAULT_LR, *lrs):
            rows = _select(ft, init, 0, lr)
            if rows:
                cells = [mean_std([r['metrics'][k] for r in rows], d) for k, _, d in METRICS]
                lines.append(f'| {INIT_LABEL[init]} | {lr:g} | ' + ' | '.join(cells) + ' |')
    return lines


def every_run_table(ft):
    lines = ['| run | init | frozen k | lr | seed | ' + ' | '.join(m[1] for m in METRICS) +
             ' | minutes |', '| --- |' + ' --- |' * (len(METRICS) + 5)]
    for r in sorted(ft, key=lambda r: (_order(r['init']), r['frozen'], -_lr(r), r['seed'])):
        cells = [f'{r["metrics"][k]:.{d}f}' for k, _, d in METRICS]
        lines.append(f'| {r["name"]} | {r["init"]} | {r["frozen"]} | {_lr(r):g} | {r["seed"]} | ' +
                     ' | '.join(cells) + f' | {r["seconds"] / 60:.1f} |')
    return lines


def probe_table(probes):
    lines = ['| features | 3D probe (mm) | 3D probe, all tokens (mm) | 2D probe (px) | '
             'latent equivariance | latent invariance | between images |',
             '| --- |' + ' --- |' * 6]
    by = {}
    for r in probes['runs']:
        by.setdefault(r['variant'], []).append(r)

    def order(v):  # random init first, fine-tuned backbones last
        return (0 if v == 'random init' else 2 if v.startswith('fine-tuned') else 1, _order(v))
    for variant in sorted(by, key=order):
        rows = by[variant]
        cells = [mean_std([r[k] for r in rows], d) for k, d in (
            ('probe_3d_mm', 2), ('probe_3d_all_tokens_mm', 2), ('probe_2d_px', 2),
            ('equivariance', 3), ('invariance', 3), ('between_images', 3))]
        # 'random init' and 'fine-tuned (...)' have no sweep suffix: _label keeps them as they are
        lines.append(f'| {_label(variant)} | ' + ' | '.join(cells) + ' |')
    lines.append(f'| predicting the mean pose | {probes["mean_pose_3d_mm"]:.2f} | '
                 f'{probes["mean_pose_3d_mm"]:.2f} | {probes["mean_pose_2d_px"]:.2f} | | | |')
    return lines


def pretrain_table(pre):
    lines = ['| pre-training run | epochs | prototypes | teacher temperature | final loss terms '
             '(last logged iteration) |', '| --- | --- | --- | --- | --- |']
    for r in sorted(pre, key=lambda r: (_order(r.get('tag', r['variant'])), r['seed'])):
        terms = ', '.join(f'{k} {v:.3f}' for k, v in r.get('final_losses', {}).items())
        temp = r.get('teacher_temp') or '0.04 -> 0.07'
        lines.append(f'| {r["name"]} | {r.get("epochs", "")} | {r.get("prototypes", 512)} | '
                     f'{temp} | {terms} |')
    return lines


def sweep_table(ft, marker):
    """Fine-tuning from sweep pre-trainings (init names with ``_<marker><value>``) vs the
    preset's, on the seeds both have."""
    long = sorted({r['init'] for r in ft if f'_{marker}' in r['init']})
    lines = ['| initialisation | seeds | ' + ' | '.join(m[1] for m in METRICS) + ' |',
             '| --- | --- |' + ' --- |' * len(METRICS)]
    for init in long:
        seeds = {r['seed'] for r in _select(ft, init, 0)}
        for name in (init.partition(f'_{marker}')[0], init):
            rows = [r for r in _select(ft, name, 0) if r['seed'] in seeds]
            cells = [mean_std([r['metrics'][k] for r in rows], d) for k, _, d in METRICS]
            lines.append(f'| {_label(name)} | {sorted(seeds)} | ' + ' | '.join(cells) + ' |')
    return lines


def plot_partial(ft, frozen_ks, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ks = sorted({0, *frozen_ks, *(r['frozen'] for r in ft)})
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    for init, style in (('handmim', 'o-'), ('ibot', 's--'), ('scratch', 'x:')):
        vals = {k: [r['metrics']['pa_mpjpe'] for r in _select(ft, init, k)] for k in ks}
        vals = {k: v for k, v in vals.items() if v}
        ax.errorbar(list(vals), [np.mean(v) for v in vals.values()],
                    yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals.values()],
                    fmt=style, capsize=3,
                    label=INIT_LABEL[init] if init != 'scratch' else 'random init (no pre-training)')
    ax.set_xlabel('frozen ViT blocks k (of 4)')
    ax.set_ylabel('PA-MPJPE (mm), eval split')
    ax.set_xticks(ks)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def baseline_table(baselines):
    """The trivial baselines (``proxy_study.trivial_baselines``): ``{name: {metric: value}}``
    of ``mmhandmim.evaluation.baselines`` on the same evaluation split."""
    from mmhandmim.evaluation.baselines import BASELINE_LABELS, PLACEMENT_NOTE
    lines = [f'Trivial baselines on the same evaluation split, same metrics ({PLACEMENT_NOTE}):',
             '', '| baseline | ' + ' | '.join(m[1] for m in METRICS) + ' |',
             '| --- |' + ' --- |' * len(METRICS)]
    for name, scores in baselines.items():
        cells = [f'{scores[k]:.{d}f}' for k, _, d in METRICS]
        lines.append(f'| {BASELINE_LABELS.get(name, name)} | ' + ' | '.join(cells) + ' |')
    return lines + ['']


def write_report(work, preset, args, pre, ft, probes, num_blocks, baselines=None):
    """``baselines``: the trivial baselines' scores (``proxy_study.trivial_baselines``)."""
    frozen_ks = list(preset['frozen'])
    png = osp.join(work, 'partial_finetune.png')
    plot_partial(ft, frozen_ks, png)
    calls_path = osp.join(work, 'calls.json')
    wall = json.load(open(calls_path)) if osp.isfile(calls_path) else []
    settings = (f'preset `{args.preset}`: {preset["n_unlabeled"]} unlabeled crops '
                f'({preset["unl_img"]} px), FreiHAND-layout {preset["n_train"]} train / '
                f'{preset["n_eval"]} eval frames ({preset["fh_img"]} px; training images: green '
                f'screen + {preset["versions"] - 1} cluttered background(s) per frame), '
                f'pre-training {preset["pre_epochs"]} epochs, fine-tuning {preset["ft_epochs"]} '
                f'epochs, seeds {args.seeds}, {args.jobs} runs in parallel')
    lines = ['## Results', '', f'Settings: {settings}.', '',
             '### Full fine-tuning (mean ± sample std over seeds)', '',
             *fine_tune_table(ft), '',
             *(baseline_table(baselines) if baselines else []),
             '### Partial fine-tuning (first k blocks frozen)', '',
             *partial_table(ft, frozen_ks, num_blocks), '',
             '### Fine-tuning learning rate (full fine-tuning)', '',
             *lr_table(ft, preset.get('lr_sweep', ())), '',
             '### Probes of the frozen pre-trained features', '', *probe_table(probes), '',
             '### Longer pre-training', '', *sweep_table(ft, 'e'), '',
             '### Pre-training losses (ln K: a uniform target over the K prototypes; '
             'ln 512 = 6.238, ln 4096 = 8.318)', '', *pretrain_table(pre), '',
             '### Every fine-tuning run', '', *every_run_table(ft), '',
             f'Pre-training run-minutes: {sum(r["seconds"] for r in pre) / 60:.1f}; '
             f'fine-tuning run-minutes: {sum(r["seconds"] for r in ft) / 60:.1f}; wall time of '
             f'the study command(s): {sum(wall) / 60:.1f} min.', '']
    text = '\n'.join(lines)
    with open(osp.join(work, 'results.md'), 'w') as f:
        f.write(text)
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(dict(settings=preset, seeds=args.seeds, pretrain=pre, finetune=ft,
                       probes=probes, baselines=baselines), f, indent=1)
    return text
