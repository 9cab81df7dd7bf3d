"""Evaluate a FreiHAND / HO3D ``pred.json`` exactly like the official scripts, in seconds.

    python tools/analysis/eval_hand_mesh.py --pred PRED_JSON --gt-dir GT_DIR \
        --protocol {freihand,ho3d} --out-dir OUT_DIR

GT_DIR holds ``evaluation_xyz.json`` and ``evaluation_verts.json``. PRED_JSON may also be the
``pred.zip`` made for Codalab. Writes OUT_DIR/scores.json (errors in mm), scores.txt (the
official file, means in cm), per_sample.csv and pck_curves.png. Malformed input gives a
one-line message on stderr and exit status 2, and so do inputs that would be scored
meaninglessly (``mmhandmim.evaluation.prediction_checks``): points in millimetres or
centimetres instead of metres, predictions in the other benchmark's joint order or camera
frame, a ground-truth folder of the other benchmark (ambiguous evidence: a one-line warning).
FreiHAND's ground truth needs only the two files above (no ``evaluation_mano.json``).

``--baseline-mano {standin,MANO_DIR}`` (and ``--mean-params NPZ``) also scores the trivial
baselines on the same ground truth (``mmhandmim.evaluation.baselines``: the constant hand and
the training-set mean pose, root placed at the GT root), prints them beside the prediction
and writes OUT_DIR/baselines.json. Only then are torch and the hand model imported.
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
    from mmhandmim.evaluation.prediction_checks import check_submission  # noqa: E402
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
    base = parser.add_argument_group('trivial baselines (optional; imports torch)')
    base.add_argument('--baseline-mano', metavar='{standin,MANO_DIR}',
                      help="score the constant-hand baseline with this hand model: 'standin' "
                           '(the stand-in, for generated data) or the folder with '
                           'MANO_RIGHT.pkl (or the .pkl itself)')
    base.add_argument('--mean-params', metavar='NPZ',
                      help='also the training-set mean pose: the .npz of '
                           'tools/misc/compute_mean_mano_params.py (needs --baseline-mano)')
    base.add_argument('--baseline-flat-hand-mean', choices=('auto', 'true', 'false'),
                      default='auto',
                      help="the hand model's flat_hand_mean (what its zero pose is); auto: "
                           'False for FreiHAND, True for HO3D (as their own MANO code)')
    return parser.parse_args(argv)


def _baseline_hands(args):
    """(hands, settings) of the requested baselines; raises ValueError on bad input."""
    import mmhandmim.compat  # noqa: F401  (before the hand model imports mmengine)
    import mmhandmim.standin  # noqa: F401  (light import: registers model_path='standin')
    from mmhandmim.evaluation.baselines import baseline_hands, build_baseline_mano
    flat = {'auto': args.protocol == 'ho3d', 'true': True, 'false': False}[
        args.baseline_flat_hand_mean]
    mano = build_baseline_mano(dict(model_path=args.baseline_mano, flat_hand_mean=flat),
                               args.protocol, where='--baseline-mano')
    try:
        hands = baseline_hands(mano, args.mean_params)
    except ValueError as exc:
        raise ValueError(f'--mean-params {exc}') from None
    settings = dict(protocol=args.protocol, hand_model=mano.model_file,
                    standin=bool(mano.is_standin), flat_hand_mean=mano.flat_hand_mean,
                    fingertip_ids=list(mano.fingertip_ids), mean_params=args.mean_params)
    return hands, settings


def _write_baselines(path, settings, scores, metrics):
    import json
    from mmhandmim.evaluation.baselines import (BASELINE_LABELS, PLACEMENT_NOTE,
                                                model_over_constant)
    from mmhandmim.evaluation.report import scalar_scores
    record = dict(settings, placement=PLACEMENT_NOTE,
                  labels={k: BASELINE_LABELS[k] for k in scores},
                  model_over_constant_pa_mpjpe=model_over_constant(metrics, scores),
                  scores={k: scalar_scores(v) for k, v in scores.items()})
    with open(path, 'w') as f:
        json.dump(record, f, indent=2)


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
    if args.mean_params and not args.baseline_mano:
        print('error: --mean-params needs --baseline-mano (the hand model that decodes it)',
              file=sys.stderr)
        return EXIT_BAD_INPUT
    baselines = None
    if args.baseline_mano:  # before the (long) loading: a bad hand model or file fails fast
        try:
            hands, base_settings = _baseline_hands(args)
        except (ValueError, OSError) as exc:
            print(f'error: {" ".join(str(exc).split())}', file=sys.stderr)
            return EXIT_BAD_INPUT
    start = time.perf_counter()
    # the plot helper imports matplotlib on the other core while this process evaluates
    plotter = PlotProcess()
    try:
        gt_xyz, gt_verts, pred_xyz, pred_verts = _load_both(args.gt_dir, args.pred)
        # the benchmark of the ground truth, the frame and joint order of the predictions
        check_submission(pred_xyz, gt_xyz, args.protocol, gt_dir=args.gt_dir, where=args.pred)
        loaded = time.perf_counter()
        metrics = evaluate_hand_mesh(pred_xyz, pred_verts, gt_xyz, gt_verts,
                                     protocol=args.protocol, return_per_sample=True)
        evaluated = time.perf_counter()
        if args.baseline_mano:
            from mmhandmim.evaluation.baselines import evaluate_baselines
            baselines = evaluate_baselines(hands, gt_xyz, gt_verts, args.protocol)
    except (ValueError, OSError) as exc:  # SubmissionError is a ValueError
        plotter.close()
        print(f'error: {exc}', file=sys.stderr)
        return EXIT_BAD_INPUT
    except BaseException:
        plotter.close()
        raise
    baselined = time.perf_counter()
    try:
        paths = write_report(metrics, args.out_dir, args.protocol, plotter=plotter)
        if baselines is not None:
            paths['baselines.json'] = os.path.join(args.out_dir, 'baselines.json')
            _write_baselines(paths['baselines.json'], base_settings, baselines, metrics)
    except OSError as exc:
        print(f'error: cannot write the report: {exc}', file=sys.stderr)
        return 1
    finally:
        plotter.close()
    print(f'{args.protocol}: {pred_xyz.shape[0]} samples, {pred_verts.shape[1]} vertices')
    print(format_table(metrics))
    if baselines is not None:
        from mmhandmim.evaluation.baselines import format_comparison
        print('trivial baselines on the same ground truth:')
        print(format_comparison(metrics, baselines))
    print(f'time: loading {loaded - start:.2f} s, metrics {evaluated - loaded:.2f} s, '
          + (f'baselines {baselined - evaluated:.2f} s, ' if baselines is not None else '')
          + f'report {time.perf_counter() - baselined:.2f} s')
    print('wrote ' + ', '.join(paths.values()))
    return 0


if __name__ == '__main__':
    sys.exit(main())
