"""Files the evaluator writes: scores.json, official scores.txt, per_sample.csv, PCK plot."""
import json
import os
from typing import Any, Dict, Mapping, Optional

import numpy as np

from .functional.hand_mesh import official_scores
from .pck_plot import PlotProcess, plot_pck_curves

#: per-sample CSV columns (evaluate_hand_mesh ``per_sample`` keys); HO3D adds st_mpjpe
CSV_COLUMNS = ('mpjpe', 'pa_mpjpe', 'mpvpe', 'pa_mpvpe', 'pa_f5', 'pa_f15')


def scalar_scores(metrics: Mapping[str, Any]) -> Dict[str, float]:
    """The float entries of ``evaluate_hand_mesh``'s result (drops per-sample data).

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result.

    Returns:
        Dict[str, float]: its scalar entries as floats.
    """
    return {k: float(v) for k, v in metrics.items() if np.isscalar(v)}


def write_scores_json(metrics: Mapping[str, Any], path: str) -> None:
    """Write the scalar scores (:func:`scalar_scores`) as indented JSON.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result.
        path (str): the output file.
    """
    with open(path, 'w') as f:
        json.dump(scalar_scores(metrics), f, indent=2)


def write_scores_txt(metrics: Mapping[str, Any], path: str, protocol: str) -> None:
    """Official ``scores.txt``: ``key: value`` per line, '%f' format, means in cm.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result for ``protocol``.
        path (str): the output file.
        protocol (str): 'freihand' or 'ho3d' (the entries' names, see ``official_scores``).
    """
    with open(path, 'w') as f:
        for key, value in official_scores(metrics, protocol).items():
            f.write('%s: %f\n' % (key, value))


def write_per_sample_csv(metrics: Mapping[str, Any], path: str) -> None:
    """One row per sample: index, mean errors (mm) and aligned F-scores.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result with ``per_sample``
            (``return_per_sample=True``); its ``st_mpjpe`` is added when present (HO3D).
        path (str): the output file.
    """
    per_sample = metrics['per_sample']
    columns = list(CSV_COLUMNS) + (['st_mpjpe'] if 'st_mpjpe' in per_sample else [])
    n = per_sample['mpjpe'].shape[0]
    table = np.column_stack([np.arange(n)] + [per_sample[c] for c in columns])
    header = ','.join(['index'] + [c + ('_mm' if 'mp' in c else '') for c in columns])
    fmt = ['%d'] + ['%.6f'] * len(columns)
    np.savetxt(path, table, fmt=fmt, delimiter=',', header=header, comments='')


def format_table(metrics: Mapping[str, Any]) -> str:
    """A readable summary: errors in mm, AUC and F-scores as fractions.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result.

    Returns:
        str: the table, unaligned and Procrustes columns, one line per measure (plus the
        scale+translation aligned joints when present).
    """
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


def write_report(metrics: Mapping[str, Any], out_dir: str, protocol: str,
                 plotter: Optional[PlotProcess] = None) -> Dict[str, str]:
    """Write all report files into ``out_dir``; returns their paths.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result with per-sample data
            (``return_per_sample=True``).
        out_dir (str): the output folder (created).
        protocol (str): 'freihand' or 'ho3d'.
        plotter (PlotProcess, optional): a ``pck_plot.PlotProcess`` started earlier draws the
            PNG (its matplotlib import then overlaps the evaluation); without one it is drawn
            here.

    Returns:
        Dict[str, str]: file name (``scores.json``, ``scores.txt``, ``per_sample.csv``,
        ``pck_curves.png``) -> path.
    """
    os.makedirs(out_dir, exist_ok=True)
    paths = {name: os.path.join(out_dir, name) for name in
             ('scores.json', 'scores.txt', 'per_sample.csv', 'pck_curves.png')}
    write_scores_json(metrics, paths['scores.json'])
    write_scores_txt(metrics, paths['scores.txt'], protocol)
    write_per_sample_csv(metrics, paths['per_sample.csv'])
    if plotter is None:
        plot_pck_curves(metrics, paths['pck_curves.png'])
    else:
        plotter.plot(metrics, paths['pck_curves.png'])
    return paths
