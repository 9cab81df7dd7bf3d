"""The evaluator's PCK-curve figure, drawable in a helper process.

matplotlib's import (~0.7 CPU-s) and drawing (~0.3 s) used to run after the metrics, on one
core. ``PlotProcess`` starts this file as a script before the JSON loading, so the import
runs on the other core meanwhile; the curves follow on stdin (a few KB of JSON) once known.
This file needs only the standard library, numpy and matplotlib, so the helper starts without
importing the package (numba, pyarrow).
"""
import json
import os
import subprocess
import sys
from typing import Any, Dict, Mapping

#: (title, [(curve key, AUC key, label)]) per panel; missing curves (st_j) are skipped
PANELS = (('Joints', (('j', 'auc_j', 'unaligned'), ('pa_j', 'pa_auc_j', 'Procrustes'),
                      ('st_j', 'st_auc_j', 'scale+translation'))),
          ('Mesh vertices', (('v', 'auc_v', 'unaligned'), ('pa_v', 'pa_auc_v', 'Procrustes'))))


def plot_pck_curves(metrics: Mapping[str, Any], path: str) -> None:
    """Two panels (joints, mesh), unaligned and aligned PCK curves with their AUC.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result with ``pck_curves``
            (or :func:`plot_payload`'s dict).
        path (str): the PNG file.
    """
    # Figure + the Agg canvas directly: file output only, and pyplot's import is skipped
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    curves = metrics['pck_curves']
    t = curves['thresholds_mm']
    fig = Figure(figsize=(11, 4.5))
    FigureCanvasAgg(fig)
    for ax, (title, series) in zip(fig.subplots(1, 2), PANELS):
        for kind, auc_key, label in series:
            if kind in curves:
                ax.plot(t, curves[kind], label=f'{label} (AUC {metrics[auc_key]:.3f})')
        ax.set(title=title, xlabel='threshold (mm)', ylabel='fraction within threshold',
               xlim=(t[0], t[-1]), ylim=(0, 1))
        ax.grid(alpha=0.3)
        ax.legend(loc='lower right')
    # fixed margins: tight_layout() draws the whole figure once more (~0.1 s)
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.11, top=0.93, wspace=0.18)
    fig.savefig(path, dpi=100)


def plot_payload(metrics: Mapping[str, Any], path: str) -> Dict[str, Any]:
    """What ``plot_pck_curves`` reads from ``metrics``, as JSON-ready lists and floats.

    Args:
        metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result with ``pck_curves``.
        path (str): the PNG file, stored as ``path``.

    Returns:
        Dict[str, Any]: the AUCs, ``pck_curves`` and ``path``.
    """
    curves = {k: [float(x) for x in v] for k, v in metrics['pck_curves'].items()}
    aucs = {auc_key: float(metrics[auc_key]) for _, series in PANELS
            for _, auc_key, _ in series if auc_key in metrics}
    return dict(aucs, pck_curves=curves, path=path)


class PlotProcess:
    """``python pck_plot.py`` started now; ``plot`` hands it the curves and waits for it."""

    def __init__(self) -> None:
        self._proc = subprocess.Popen([sys.executable, os.path.abspath(__file__)],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)

    def plot(self, metrics: Mapping[str, Any], path: str) -> None:
        """Draw ``path`` in the helper, and wait for it.

        Args:
            metrics (Mapping[str, Any]): ``evaluate_hand_mesh``'s result with ``pck_curves``.
            path (str): the PNG file.

        Raises:
            OSError: the helper failed (with its last error line).
        """
        payload = json.dumps(plot_payload(metrics, os.path.abspath(path))).encode()
        try:
            _, err = self._proc.communicate(payload)
        except BrokenPipeError:  # the helper died before reading (e.g. no matplotlib)
            _, err = self._proc.communicate()
        if self._proc.returncode != 0:
            lines = err.decode(errors='replace').strip().splitlines() or ['no message']
            raise OSError(f'plot helper failed ({self._proc.returncode}): {lines[-1]}')

    def close(self) -> None:
        """Stop the helper when no plot is wanted (the evaluation failed)."""
        if self._proc.poll() is None:
            self._proc.kill()
            self._proc.communicate()


def _main():
    # importing matplotlib is the point of starting early; the data comes when it is ready
    import matplotlib.backends.backend_agg  # noqa: F401
    import matplotlib.figure  # noqa: F401
    data = sys.stdin.buffer.read()
    if not data:  # the caller went away without asking for a plot
        return 0
    payload = json.loads(data)
    plot_pck_curves(payload, payload['path'])
    return 0


if __name__ == '__main__':
    # run as a script, this file's folder heads sys.path; drop it so that nothing in it can
    # shadow a module matplotlib imports
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)
    sys.exit(_main())
