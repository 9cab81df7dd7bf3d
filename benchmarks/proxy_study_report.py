"""Tables, claim verdicts, JSON record and partial fine-tuning plot of the proxy study.

Every comparison is read with ``proxy_study_regime.clearly_lower`` (at least 5 % and more than
twice the seeds' spread) on the metrics where the regime checks passed; every fine-tuning
table carries the trivial baselines and the frozen random backbone.
"""
import json
import os.path as osp

import numpy as np

from proxy_study_regime import clearly_lower, describe

METRICS = (('pa_mpjpe', 'PA-MPJPE (mm)', 2), ('pa_mpvpe', 'PA-MPVPE (mm)', 2),
           ('mpjpe', 'MPJPE (mm)', 1), ('mpvpe', 'MPVPE (mm)', 1), ('pa_f5', 'F@5', 3),
           ('pa_f15', 'F@15', 3))
LABELS = {k: label for k, label, _ in METRICS}
INIT_LABEL = {
    'scratch': 'from scratch (no pre-training)',
    'ibot': 'iBOT baseline',
    'handmim': 'HandMIM (all three losses)',
    'no-pose': 'HandMIM without L_pose',
    'no-patch': 'HandMIM without L_patch',
    'no-recon': 'HandMIM without L_recon',
    'finetuned-scratch': 'backbone of a fine-tuning from scratch',
}
BASELINE_LABEL = {'constant': 'constant hand (zero pose), one for every image',
                  'mean_pose': 'training-set mean pose, one for every image'}
NOT_A_RESULT = ('**Not a result:** the regime checks failed (see above); these numbers are '
                'printed because `--continue-anyway` was given.')


def mean_std(values, digits):
    v = np.asarray(values, dtype=np.float64)
    spread = v.std(ddof=1) if len(v) > 1 else 0.0
    return f'{v.mean():.{digits}f} ± {spread:.{digits}f}'


def select(ft, init, frozen):
    return sorted((r for r in ft if r['init'] == init and r['frozen'] == frozen),
                  key=lambda r: r['seed'])


def values(ft, init, frozen, metric):
    return [r['metrics'][metric] for r in select(ft, init, frozen)]


def verdict(a, b):
    """``a`` against ``b`` (errors): clearly better / clearly worse / within the noise."""
    if not a or not b:
        return 'not run'
    if clearly_lower(a, b)['ok']:
        return 'clearly better'
    if clearly_lower(b, a)['ok']:
        return 'clearly worse'
    return 'within the noise'


def print_checks(checks):
    print('Regime checks (proxy_study_regime.py):', flush=True)
    for line in describe(checks['finetune'], checks['class_loss'], checks['teacher'], LABELS):
        print('  ' + line, flush=True)
    readable = ', '.join(LABELS[m] for m in checks['readable']) or 'none'
    print(f'  comparisons readable on: {readable}', flush=True)


def comparison_table(ft, inits, reference, readable, baselines, num_blocks):
    """Full fine-tuning of ``inits``, each against ``reference`` on the readable metrics, with
    the trivial baselines and the frozen random backbone as rows."""
    lines = ['| initialisation | ' + ' | '.join(m[1] for m in METRICS) + ' | seeds | ' +
             ' | '.join(f'vs {INIT_LABEL[reference]} ({LABELS[m]})' for m in readable) + ' |',
             '| --- |' + ' --- |' * (len(METRICS) + 1 + len(readable))]
    for n, s in baselines.items():
        lines.append(f'| {BASELINE_LABEL.get(n, n)} | ' +
                     ' | '.join(f'{s[k]:.{d}f}' for k, _, d in METRICS) + ' | - |' +
                     ' |' * len(readable))
    rows = [('frozen random ViT + trained head', 'scratch', num_blocks)] + [
        (INIT_LABEL[i], i, 0) for i in inits]
    for label, init, k in rows:
        recs = select(ft, init, k)
        if not recs:
            continue
        cells = [mean_std([r['metrics'][key] for r in recs], d) for key, _, d in METRICS]
        vs = ['-' if (init, k) == (reference, 0) else
              verdict(values(ft, init, k, m), values(ft, reference, 0, m)) for m in readable]
        lines.append(f'| {label} | ' + ' | '.join(cells) + f' | {len(recs)} | ' +
                     ' | '.join(vs) + ' |')
    return lines


def partial_table(ft, ks, metric, num_blocks):
    inits = ('handmim', 'ibot', 'scratch')
    lines = ['| frozen blocks k | ' + ' | '.join(
        f'{INIT_LABEL[i] if i != "scratch" else "random ViT (no pre-training)"}' for i in inits)
        + ' | HandMIM vs iBOT | HandMIM vs random |', '| --- |' + ' --- |' * 5]
    for k in ks:
        v = {i: values(ft, i, k, metric) for i in inits}
        cells = [mean_std(v[i], 2) if v[i] else '' for i in inits]
        note = ' (whole backbone frozen)' if k == num_blocks else ''
        lines.append(f'| {k}{note} | ' + ' | '.join(cells) + f' | '
                     f'{verdict(v["handmim"], v["ibot"])} | '
                     f'{verdict(v["handmim"], v["scratch"])} |')
    return lines


def head_probe_lines(ft, metrics, num_blocks):
    """The frozen-backbone fine-tuning (k = all blocks) read as a probe: it must rank the
    frozen backbone of a fine-tuning from scratch clearly above a frozen random ViT."""
    out = []
    for m in metrics:
        fin = values(ft, 'finetuned-scratch', num_blocks, m)
        rnd = values(ft, 'scratch', num_blocks, m)
        if fin and rnd:
            c = clearly_lower(fin, rnd)
            out.append(f'* Probe validation of the frozen-backbone fine-tuning (k = {num_blocks}), '
                       f'{LABELS[m]}: {"PASS" if c["ok"] else "FAIL"}: fine-tuned backbone '
                       f'{mean_std(fin, 2)} vs random ViT {mean_std(rnd, 2)} '
                       f'({c["ratio"]:.3f}x).')
    return out + ([''] if out else [])


def probe_table(probes):
    from proxy_study_probes import PROBE_KEYS
    names = dict(probe_3d_mm='3D probe (mm)', probe_3d_all_tokens_mm='3D probe, all tokens (mm)',
                 probe_2d_px='2D probe (px)', probe_2d_all_tokens_px='2D probe, all tokens (px)')
    val = probes.get('validation', {})
    lines = ['| features | ' + ' | '.join(names[k] for k in PROBE_KEYS) +
             ' | latent equivariance | latent invariance | between images |',
             '| --- |' + ' --- |' * (len(PROBE_KEYS) + 3)]
    by = {}
    for r in probes['runs']:
        by.setdefault(r['variant'], []).append(r)
    for variant, rows in by.items():
        cells = [mean_std([r[k] for r in rows], 2) for k in PROBE_KEYS]
        cells += [mean_std([r[k] for r in rows], 3) for k in (
            'equivariance', 'invariance', 'between_images')]
        lines.append(f'| {INIT_LABEL.get(variant, variant)} | ' + ' | '.join(cells) + ' |')
    m3, m2 = probes['mean_pose_3d_mm'], probes['mean_pose_2d_px']
    lines.append(f'| predicting the mean pose | {m3:.2f} | {m3:.2f} | {m2:.2f} | {m2:.2f} | | | |')
    lines += ['', 'Probe validation (does it rank fine-tuned backbones clearly above random '
              'ones?): ' + '; '.join(
                  f'{names[k]} {"PASS" if v["ok"] else "FAIL"} ({v["better"]:.2f} vs '
                  f'{v["worse"]:.2f}, {v["ratio"]:.3f}x)' for k, v in val.items()) +
              '. Only the probes that pass are read in the verdicts.']
    return lines


def probe_verdicts(probes):
    """Pre-trained teachers against the random ViT, on every validated probe."""
    from proxy_study_probes import PROBE_KEYS
    by = {}
    for r in probes['runs']:
        by.setdefault(r['variant'], []).append(r)
    ok = [k for k in PROBE_KEYS if probes.get('validation', {}).get(k, {}).get('ok')]
    out = []
    for variant in ('handmim', 'ibot', 'no-pose', 'no-patch', 'no-recon'):
        if variant in by:
            for k in ok:
                out.append(f'{INIT_LABEL[variant]} vs random ViT, {k}: ' + verdict(
                    [r[k] for r in by[variant]], [r[k] for r in by['random init']]))
            if 'ibot' in by and variant == 'handmim':
                for k in ok:
                    out.append(f'HandMIM vs iBOT, {k}: ' + verdict(
                        [r[k] for r in by['handmim']], [r[k] for r in by['ibot']]))
    return out


def claims(ft, readable, ks, num_blocks):
    """The paper's claims, each read on every readable metric."""
    out = []
    for m in readable:
        lab = LABELS[m]
        h, i, s = (values(ft, v, 0, m) for v in ('handmim', 'ibot', 'scratch'))
        out.append(f'Tables 1/3, {lab}: HandMIM vs from scratch: {verdict(h, s)}; '
                   f'iBOT vs from scratch: {verdict(i, s)}; HandMIM vs iBOT: {verdict(h, i)}')
        for ab in ('no-pose', 'no-patch', 'no-recon'):
            out.append(f'Table 5, {lab}: HandMIM vs {INIT_LABEL[ab]}: '
                       f'{verdict(h, values(ft, ab, 0, m))}')
        for k in ks:
            if k:
                hk, ik, sk = (values(ft, v, k, m) for v in ('handmim', 'ibot', 'scratch'))
                out.append(f'Fig. 7, {lab}, k = {k}: HandMIM vs iBOT: {verdict(hk, ik)}; '
                           f'HandMIM vs random ViT: {verdict(hk, sk)}')
    return out


def pretrain_table(pre, prototypes):
    import math
    lnk = math.log(prototypes)
    lines = [f'| pre-training run | class loss (last epoch) | minus ln K ({lnk:.3f}) | '
             'other loss terms | image share of the aligned latent | minutes |',
             '| --- | --- | --- | --- | --- | --- |']
    for r in sorted(pre, key=lambda r: (list(INIT_LABEL).index(r['variant']), r['seed'])):
        fl = r['final_losses']
        terms = ', '.join(f'{k} {v:.3f}' for k, v in fl.items()
                          if k.startswith('loss_') and k not in ('loss_pose', 'loss_cls'))
        share, gap = fl.get('pose_image_share'), fl.get('pose_lnk_gap')
        cls = ('(no class loss) | |' if gap is None else f'{gap + lnk:.3f} | {gap:+.3f} |')
        lines.append(f'| {r["name"]} | {cls} {terms} | '
                     f'{"" if share is None else f"{share:.3f}"} | {r["seconds"] / 60:.1f} |')
    return lines


def every_run_table(ft):
    lines = ['| run | init | frozen k | seed | ' + ' | '.join(m[1] for m in METRICS) +
             ' | minutes |', '| --- |' + ' --- |' * (len(METRICS) + 4)]
    order = list(INIT_LABEL)
    for r in sorted(ft, key=lambda r: (order.index(r['init']), r['frozen'], r['seed'])):
        cells = [f'{r["metrics"][k]:.{d}f}' for k, _, d in METRICS]
        lines.append(f'| {r["name"]} | {r["init"]} | {r["frozen"]} | {r["seed"]} | ' +
                     ' | '.join(cells) + f' | {r["seconds"] / 60:.1f} |')
    return lines


def plot_partial(ft, ks, metric, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.5, 3.2), dpi=120)
    for init, style in (('handmim', 'o-'), ('ibot', 's--'), ('scratch', 'x:')):
        vals = {k: values(ft, init, k, metric) for k in ks}
        vals = {k: v for k, v in vals.items() if v}
        ax.errorbar(list(vals), [np.mean(v) for v in vals.values()],
                    yerr=[np.std(v, ddof=1) if len(v) > 1 else 0 for v in vals.values()],
                    fmt=style, capsize=3,
                    label=INIT_LABEL[init] if init != 'scratch' else 'random ViT')
    ax.set_xlabel('frozen ViT blocks k')
    ax.set_ylabel(f'{LABELS[metric]}, eval split')
    ax.set_xticks(ks)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


def write_report(work, preset, args, records, probes, checks, baselines, num_blocks=4):
    pre = [r for r in records if 'variant' in r]
    ft = [r for r in records if 'init' in r]
    readable = checks['readable']
    in_regime = bool(readable) and checks['class_loss']['ok']
    calls_path = osp.join(work, 'calls.json')
    wall = json.load(open(calls_path)) if osp.isfile(calls_path) else []
    settings = ', '.join(f'{k} {v}' for k, v in preset.items())
    lines = ['## Results', '', f'Preset `{args.preset}` ({settings}); seeds {args.seeds}.', '',
             '### Regime checks', '',
             *[f'* {line}' for line in describe(checks['finetune'], checks['class_loss'],
                                                 checks['teacher'], LABELS)],
             f'* comparisons readable on: '
             f'{", ".join(LABELS[m] for m in readable) or "none"}', '']
    if not in_regime:
        lines += [NOT_A_RESULT if len(ft) > 6 else
                  '**The study stopped here:** the regime checks failed, so no comparison '
                  'would be a result.', '']
    ks = sorted({0, *preset['frozen']})
    if len(ft) > 6:
        shown = readable or [m for m, _, _ in METRICS[:3:2]]
        lines += ['### Claim verdicts (mean over seeds; "clearly" = at least 5 % and more than '
                  'twice the seed spread)', '',
                  *[f'* {c}' for c in claims(ft, shown, ks, num_blocks)], '',
                  '### Tables 1 and 3: full fine-tuning (mean ± sample std over seeds)', '',
                  *comparison_table(ft, ('scratch', 'ibot', 'handmim'), 'scratch', shown,
                                    baselines, num_blocks), '',
                  '### Table 5: each loss (full fine-tuning)', '',
                  *comparison_table(ft, ('handmim', 'no-pose', 'no-patch', 'no-recon'),
                                    'handmim', shown, baselines, num_blocks), '']
        for m in shown:
            lines += [f'### Fig. 7: partial fine-tuning, first k blocks frozen ({LABELS[m]})',
                      '', *partial_table(ft, ks, m, num_blocks), '']
        lines += head_probe_lines(ft, shown, num_blocks)
        plot_partial(ft, ks, shown[0], osp.join(work, 'partial_finetune.png'))
        lines += ['Trivial baselines on the same split: ' + '; '.join(
            f'{BASELINE_LABEL[n]}: ' + ', '.join(f'{LABELS[m]} {s[m]:.2f}' for m in shown)
            for n, s in baselines.items()), '']
    if probes:
        lines += ['### Probes of frozen features', '', *probe_table(probes), '',
                  *[f'* {v}' for v in probe_verdicts(probes)], '']
    lines += ['### Pre-training (ln K: a uniform target over the K prototypes)', '',
              *pretrain_table(pre, preset['prototypes']), '',
              '### Every fine-tuning run', '', *every_run_table(ft), '',
              f'Pre-training run-minutes: {sum(r["seconds"] for r in pre) / 60:.1f}; '
              f'fine-tuning run-minutes: {sum(r["seconds"] for r in ft) / 60:.1f}; wall time '
              f'of the study command(s): {sum(wall) / 60:.1f} min in {len(wall)} call(s).', '']
    text = '\n'.join(lines)
    with open(osp.join(work, 'results.md'), 'w') as f:
        f.write(text)
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(dict(settings=preset, seeds=args.seeds, checks=checks, pretrain=pre,
                       finetune=ft, probes=probes, baselines=baselines), f, indent=1)
    return text
