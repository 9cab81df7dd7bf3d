"""Evaluate a FreiHAND / HO3D ``pred.json`` exactly like the official scripts, in seconds.

    python tools/analysis/eval_hand_mesh.py --pred PRED_JSON --gt-dir GT_DIR \
        --protocol {freihand,ho3d} --out-dir OUT_DIR

GT_DIR holds ``evaluation_xyz.json`` and ``evaluation_verts.json``. PRED_JSON may also be the
``pred.zip`` made for Codalab. Writes OUT_DIR/scores.json (errors in mm), scores.txt (the
official file, means in cm), per_sample.csv and pck_curves.png. Malformed input gives a
one-line message on stderr and exit status 2.
"""
import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:  # runs from a checkout without installing the package
    sys.path.insert(0, REPO_ROOT)
# numpy-only tool: skip registering into mmpose/mmpretrain (~10 s of imports). The variable
# is restored at once so processes started later (and callers importing this module) register
_LIGHT = os.environ.get('MMHANDMIM_LIGHT_IMPORT')
os.environ['MMHANDMIM_LIGHT_IMPORT'] = '1'
try:
    from mmhandmim.evaluation import evaluate_hand_mesh, load_gt, load_prediction  # noqa
    from mmhandmim.evaluation.pck_plot import PlotProcess  # noqa: E402
    from mmhandmim.evaluation.report import format_table, write_report  # noqa: E402
finally:
    if _LIGHT is None:
        del os.environ['MMHANDMIM_LIGHT_IMPORT']
    else:
        os.environ['MMHANDMIM_LIGHT_IMPORT'] = _LIGHT

EXIT_BAD_INPUT = 2


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--pred', required=True, help='pred.json or pred.zip')
    parser.add_argument('--gt-dir', required=True,
                        help='folder with evaluation_xyz.json and evaluation_verts.json')
    parser.add_argument('--protocol', required=True, choices=('freihand', 'ho3d'))
    parser.add_argument('--out-dir', required=True, help='where the report files go')
    return parser.parse_args(argv)


def _load_both(gt_dir, pred_path):
    """Ground truth (in a thread) and prediction at once: one file's single-threaded text
    passes overlap the other's multi-threaded number parsing. A ground-truth error is still
    the one reported when both files are bad."""
    with ThreadPoolExecutor(1) as worker:
        gt_job = worker.submit(load_gt, gt_dir)
        try:
            pred, pred_error = load_prediction(pred_path), None
        except (ValueError, OSError) as exc:
            pred, pred_error = None, exc
        gt_xyz, gt_verts = gt_job.result()
    if pred_error is not None:
        raise pred_error
    return (gt_xyz, gt_verts) + pred


def main(argv=None):
    args = parse_args(argv)
    start = time.perf_counter()
    # the plot helper imports matplotlib on the other core while this process evaluates
    plotter = PlotProcess()
    try:
        gt_xyz, gt_verts, pred_xyz, pred_verts = _load_both(args.gt_dir, args.pred)
        loaded = time.perf_counter()
        metrics = evaluate_hand_mesh(pred_xyz, pred_verts, gt_xyz, gt_verts,
                                     protocol=args.protocol, return_per_sample=True)
    except (ValueError, OSError) as exc:  # SubmissionError is a ValueError
        plotter.close()
        print(f'error: {exc}', file=sys.stderr)
        return EXIT_BAD_INPUT
    except BaseException:
        plotter.close()
        raise
    evaluated = time.perf_counter()
    try:
        paths = write_report(metrics, args.out_dir, args.protocol, plotter=plotter)
    except OSError as exc:
        print(f'error: cannot write the report: {exc}', file=sys.stderr)
        return 1
    finally:
        plotter.close()
    print(f'{args.protocol}: {pred_xyz.shape[0]} samples, {pred_verts.shape[1]} vertices')
    print(format_table(metrics))
    print(f'time: loading {loaded - start:.2f} s, metrics {evaluated - loaded:.2f} s, '
          f'report {time.perf_counter() - evaluated:.2f} s')
    print('wrote ' + ', '.join(paths.values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
