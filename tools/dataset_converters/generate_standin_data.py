"""Generate stand-in datasets in the real datasets' file layouts from the procedural stand-in
hand model (not MANO), for tests, CI and smoke runs where MANO/FreiHAND/HO3D are unavailable.

    python tools/dataset_converters/generate_standin_data.py {freihand,ho3d,unlabeled,all} \
        --out-dir DIR [--num-train N] [--num-eval M] [--seed S] [--img-size 224] \
        [--versions 4] [--num-seqs 4] [--overwrite]

* freihand: FreiHAND v2 layout (training/rgb, training/mask, training_*.json, evaluation/...);
  ``--num-train`` frames x ``--versions`` images, ``--num-eval`` evaluation images.
* ho3d: HO3D v2 layout (train/<SEQ>/{rgb,meta}, evaluation/..., train.txt, evaluation.txt,
  evaluation_xyz.json, evaluation_verts.json), 640x480, OpenGL frame; ``--num-train`` frames
  over ``--num-seqs`` sequences, ``--num-eval`` frames over ``max(1, num_seqs // 2)``.
* unlabeled: ``--num-train`` hand crops (images/%08d.jpg) and list.txt for pre-training.
* all: the three under DIR/freihand, DIR/ho3d and DIR/unlabeled.

A non-empty target is refused unless ``--overwrite`` (which only replaces an earlier stand-in
output: a folder with a standin_info.json). The same seed and arguments give the same files.
"""
import argparse
import os
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if REPO_ROOT not in sys.path:  # runs from a checkout without installing the package
    sys.path.insert(0, REPO_ROOT)

import mmhandmim.compat  # noqa: E402,F401  (before torch-heavy imports)

KINDS = ('freihand', 'ho3d', 'unlabeled')
NOTE = 'stand-in hand model (not MANO)'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate FreiHAND/HO3D-layout and unlabeled stand-in datasets from the '
                    f'{NOTE}.')
    parser.add_argument('dataset', choices=KINDS + ('all',))
    parser.add_argument('--out-dir', required=True,
                        help='dataset root (for "all": the parent of freihand/, ho3d/, '
                             'unlabeled/)')
    parser.add_argument('--num-train', type=int, default=32,
                        help='training frames (FreiHAND, HO3D) or images (unlabeled)')
    parser.add_argument('--num-eval', type=int, default=16, help='evaluation frames')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--img-size', type=int, default=224,
                        help='crop size of FreiHAND and unlabeled images (HO3D is 640x480)')
    parser.add_argument('--versions', type=int, default=4,
                        help='FreiHAND training images per frame (backgrounds/colour variants)')
    parser.add_argument('--num-seqs', type=int, default=4, help='HO3D training sequences')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace an earlier stand-in dataset in the target folder')
    args = parser.parse_args(argv)
    for name in ('num_train', 'num_eval', 'seed'):
        if getattr(args, name) < 0:
            parser.error(f'--{name.replace("_", "-")} must be >= 0')
    if args.versions < 1 or args.num_seqs < 1 or args.img_size < 16:
        parser.error('--versions and --num-seqs must be >= 1 and --img-size >= 16')
    return args


def targets(args):
    if args.dataset == 'all':
        return [(k, os.path.join(args.out_dir, k)) for k in KINDS]
    return [(args.dataset, args.out_dir)]


def check_targets(args):
    """Refuse before generating anything (``all`` checks its three folders first)."""
    from mmhandmim.standin.generation.common import INFO_FILE, OutputExistsError
    for _, root in targets(args):
        if os.path.isdir(root) and os.listdir(root):
            if not args.overwrite:
                raise OutputExistsError(f'output folder {root} is not empty; pass --overwrite '
                                        'to replace a previous stand-in dataset there')
            if not os.path.isfile(os.path.join(root, INFO_FILE)):
                raise OutputExistsError(f'refusing to overwrite {root}: it has no {INFO_FILE}, '
                                        'so it may hold real data; choose an empty folder')


def _format_counts(counts):
    if all(isinstance(c, int) for c in counts.values()):
        return ', '.join(f'{c} {k}' for k, c in counts.items())
    return '; '.join(f'{split}: ' + ', '.join(f'{v} {k}' for k, v in c.items()
                                             if not isinstance(v, list))
                     for split, c in counts.items())


def main(argv=None):
    args = parse_args(argv)
    from mmhandmim.standin.generation import (OutputExistsError, StandinHands,
                                               generate_freihand, generate_ho3d,
                                               generate_unlabeled)
    try:
        check_targets(args)
    except OutputExistsError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    print(f'Generating stand-in data from the {NOTE}: seed {args.seed}')
    hands = StandinHands()
    summaries = []
    start = time.perf_counter()
    for kind, root in targets(args):
        t0 = time.perf_counter()
        if kind == 'freihand':
            out = generate_freihand(root, args.num_train, args.num_eval, args.seed,
                                    args.img_size, args.versions, args.overwrite, hands=hands)
        elif kind == 'ho3d':
            out = generate_ho3d(root, args.num_train, args.num_eval, args.num_seqs, args.seed,
                                args.overwrite, hands=hands)
        else:
            out = generate_unlabeled(root, args.num_train, args.seed, args.img_size,
                                     overwrite=args.overwrite, hands=hands)
        out['seconds'] = time.perf_counter() - t0
        summaries.append((kind, out))
    print(f'Summary (data from the {NOTE}; {time.perf_counter() - start:.1f} s):')
    for kind, out in summaries:
        counts = _format_counts(out['counts'])
        print(f'  {kind:9s} {out["root"]}  ({counts}; {out["seconds"]:.1f} s)')
        print(f'  {"":9s} conventions: {out["info"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
