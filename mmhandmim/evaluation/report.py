"""Files the evaluator writes: scores.json, official scores.txt, per_sample.csv, PCK plot."""
import json
import os

import numpy as np

from .functional.hand_mesh import official_scores

#: per-sample CSV columns (evaluate_hand_mesh ``per_sample`` keys); HO3D adds st_mpjpe
CSV_COLUMNS = ('mpjpe', 'pa_mpjpe', 'mpvpe', 'pa_mpvpe', 'pa_f5', 'pa_f15')


def scalar_scores(metrics):
    """The float entries of ``evaluate_hand_mesh``'s result (drops per-sample data)."""
    return {k: float(v) for k, v in metrics.items() if np.isscalar(v)}


def write_scores_json(metrics, path):
    with open(path, 'w') as f:
        json.dump(scalar_scores(metrics), f, indent=2)


def write_scores_txt(metrics, path, protocol):
    """Official ``scores.txt``: ``key: value`` per line, '%f' format, means in cm."""
    with open(path, 'w') as f:
        for key, value in official_scores(metrics, protocol).items():
            f.write('%s: %f\n' % (key, value))


def write_per_sample_csv(metrics, path):
    """One row per sample: index, mean errors (mm) and aligned F-scores."""
    per_sample = metrics['per_sample']
    columns = list(CSV_COLUMNS) + (['st_mpjpe'] if 'st_mpjpe' in per_sample else [])
    n = per_sample['mpjpe'].shape[0]
    table = np.column_stack([np.arange(n)] + [per_sample[c] for c in columns])
    header = ','.join(['index'] + [c + ('_mm' if 'mp' in c else '') for c in columns])
    fmt = ['%d'] + ['%.6f'] * len(columns)
    np.savetxt(path, table, fmt=fmt, delimiter=',', header=header, comments='')


def plot_pck_curves(metrics, path):
    """Two panels (joints, mesh), unaligned and aligned PCK curves with their AUC."""
    import matplotlib
    matplotlib.use('Agg')  # file output only; no display needed
    import matplotlib.pyplot as plt

    curves = metrics['pck_curves']
    t = curves['thresholds_mm']
    panels = [('Joints', [('j', 'auc_j', 'unaligned'), ('pa_j', 'pa_auc_j', 'Procrustes'),
                          ('st_j', 'st_auc_j', 'scale+translation')]),
              ('Mesh vertices', [('v', 'auc_v', 'unaligned'),
                                 ('pa_v', 'pa_auc_v', 'Procrustes')])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (title, series) in zip(axes, panels):
        for kind, auc_key, label in series:
            if kind in curves:
                ax.plot(t, curves[kind], label=f'{label} (AUC {metrics[auc_key]:.3f})')
        ax.set(title=title, xlabel='threshold (mm)', ylabel='fraction within threshold',
               xlim=(t[0], t[-1]), ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def format_table(metrics):
    """A readable summary: errors in mm, AUC and F-scores as fractions."""
    rows = [('', 'unaligned', 'Procrustes')]
    rows.append(('joint error (mm)', metrics['mpjpe'], metrics['pa_mpjpe']))
    rows.append(('joint AUC 0-50 mm', metrics['auc_j'], metrics['pa_auc_j']))
    rows.append(('vertex error (mm)', metrics['mpvpe'], metrics['pa_mpvpe']))
    rows.append(('vertex AUC 0-50 mm', metrics['auc_v'], metrics['pa_auc_v']))
    rows.append(('F@5mm', metrics['f5'], metrics['pa_f5']))
    rows.append(('F@15mm', metrics['f15'], metrics['pa_f15']))
    lines = []
    for name, a, b in rows:
        cells = [f'{x:>12.4f}' if isinstance(x, float) else f'{x:>12}' for x in (a, b)]
        lines.append(f'{name:<20}' + ''.join(cells))
    if 'st_mpjpe' in metrics:
        lines.append(f'scale+translation aligned joints: {metrics["st_mpjpe"]:.4f} mm, '
                     f'AUC {metrics["st_auc_j"]:.4f}')
    return os.linesep.join(lines)


def write_report(metrics, out_dir, protocol):
    """Write all report files into ``out_dir``; returns their paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in
             ('scores.json', 'scores.txt', 'per_sample.csv', 'pck_curves.png')}
    write_scores_json(metrics, paths['scores.json'])
    write_scores_txt(metrics, paths['scores.txt'], protocol)
    write_per_sample_csv(metrics, paths['per_sample.csv'])
    plot_pck_curves(metrics, paths['pck_curves.png'])
    return paths
