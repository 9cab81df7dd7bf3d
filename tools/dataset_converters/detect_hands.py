"""Detect the hands of a folder of images (MediaPipe) into a pre-training hand list.

    python tools/dataset_converters/detect_hands.py IMAGE_DIR --out-list hands.txt \
        [--min-score 0.5] [--min-box 16] [--max-hands 4]
    python tools/dataset_converters/make_pretrain_crops.py --out-dir data/handmim_crops \
        --image-list hands.txt IMAGE_DIR ...

The paper crops images without hand annotations (COCO 2017 train and unlabeled) around the
hands MediaPipe finds. This tool writes one line per kept hand in the ``--image-list`` format
of ``make_pretrain_crops.py``: ``path x0 y0 x1 y1 l|r`` (path relative to IMAGE_DIR, in
double quotes when it has a space; the tight box of the 21 landmarks in pixels;
``make_pretrain_crops.py --padding`` pads it as every other source).

* **Sides** are in the ordinary (not mirrored) convention: MediaPipe's handedness assumes a
  selfie image, ``mmhandmim.apis.hand_detection`` converts it.
* **Dropped hands** are counted per reason: handedness score below ``--min-score``, or
  shorter box side below ``--min-box`` px (the rule of ``make_pretrain_crops.py``). Images
  without any hand are counted too. The summary is printed at the end and written to
  ``LIST.summary.json``.
* **Resumable.** Every processed image, hand or not, is appended to ``LIST.done`` after its
  lines reach ``LIST``. A rerun with the same arguments skips the images listed there.
  ``--restart`` starts over; an existing list is never overwritten without it.

Needs the optional detector: ``make install-detect``.
"""
import argparse
import json
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # runs from a checkout without installing the package
    sys.path.insert(0, REPO_ROOT)

import mmhandmim.compat  # noqa: E402,F401  (before torch-heavy imports)
from mmhandmim.datasets.unlabeled_hands import IMAGE_EXTENSIONS  # noqa: E402
from mmhandmim.utils.atomic_io import atomic_write_text  # noqa: E402
from mmhandmim.utils.cli import user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402

PROG = 'detect_hands.py'
REASONS = ('no hand in the image', 'score below --min-score', 'box below --min-box',
           'unreadable image')


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split('\n\n')[0])
    p.add_argument('image_dir', help='folder of images (searched recursively)')
    p.add_argument('--out-list', required=True, help='hand list to write (make_pretrain_crops '
                   '--image-list format)')
    p.add_argument('--min-score', type=float, default=0.5,
                   help='lowest handedness score kept (MediaPipe has no box score)')
    p.add_argument('--min-box', type=float, default=16.,
                   help='shortest box side kept, pixels (as make_pretrain_crops.py)')
    p.add_argument('--max-hands', type=int, default=4, help='hands looked for per image')
    p.add_argument('--restart', action='store_true',
                   help='discard an existing list and its progress, start over')
    args = p.parse_args(argv)
    if not osp.isdir(args.image_dir):
        raise UserInputError(f'image folder {args.image_dir!r} does not exist')
    if not 0 <= args.min_score <= 1 or args.min_box < 0 or args.max_hands < 1:
        raise UserInputError('--min-score must be in [0, 1], --min-box >= 0, --max-hands >= 1')
    return args


def list_images(root):
    found = []
    for folder, _, names in os.walk(root):
        found += [osp.relpath(osp.join(folder, n), root) for n in names
                  if n.lower().endswith(IMAGE_EXTENSIONS)]
    if not found:
        raise UserInputError(f'image folder {root!r} holds no images '
                             f'({", ".join(IMAGE_EXTENSIONS)})')
    return sorted(found)


def list_line(rel, box, side):
    path = f'"{rel}"' if ' ' in rel else rel
    if '"' in rel:
        raise UserInputError(f'image path {rel!r} contains a double quote, which the hand '
                             'list format cannot hold; rename it')
    return f'{path} ' + ' '.join(f'{v:.2f}' for v in box) + f' {side[0]}\n'


def keep(hand, args):
    """None if kept, else the reason it is dropped."""
    if hand.score < args.min_score:
        return REASONS[1]
    x0, y0, x1, y1 = hand.bbox
    if min(x1 - x0, y1 - y0) < args.min_box:
        return REASONS[2]
    return None


def open_progress(args):
    """Images already done (resume) and the two files opened for appending."""
    done_path = args.out_list + '.done'
    if args.restart:
        for path in (args.out_list, done_path):
            if osp.exists(path):
                os.remove(path)
    elif osp.exists(args.out_list) and not osp.exists(done_path):
        raise UserInputError(f'{args.out_list} exists and was not written by this tool (no '
                             f'{osp.basename(done_path)} beside it); choose another '
                             '--out-list or pass --restart to replace it')
    done = set()
    if osp.exists(done_path):
        with open(done_path) as f:
            done = {line.rstrip('\n') for line in f if line.strip()}
    return done, open(args.out_list, 'a'), open(done_path, 'a')


def main(argv=None):
    args = parse_args(argv)
    from tqdm import tqdm

    from mmhandmim.apis.hand_detection import HandDetector
    images = list_images(args.image_dir)
    done, out, progress = open_progress(args)
    todo = [rel for rel in images if rel not in done]
    counts = {r: 0 for r in REASONS}
    counts.update(images=len(images), resumed_from=len(done), hands_kept=0, left=0)
    with HandDetector(min_score=0., max_hands=args.max_hands) as detect, out, progress:
        for rel in tqdm(todo, desc=PROG, unit='img', disable=not sys.stderr.isatty()):
            try:
                hands = detect(osp.join(args.image_dir, rel))
            except UserInputError:  # unreadable: counted, not fatal
                counts[REASONS[3]] += 1
                hands = None
            if hands is not None and not hands:
                counts[REASONS[0]] += 1
            for hand in hands or ():
                reason = keep(hand, args)
                if reason:
                    counts[reason] += 1
                    continue
                out.write(list_line(rel, hand.bbox, hand.side))
                counts['hands_kept'] += 1
                counts['left'] += hand.side == 'left'
            out.flush()  # the lines first: a crash between the two writes repeats an image
            progress.write(rel + '\n')
            progress.flush()
    summary = json.dumps(dict(counts, settings=vars(args)), indent=1)
    atomic_write_text(summary, args.out_list + '.summary.json')
    print(f'{PROG}: {counts["hands_kept"]} hands ({counts["left"]} left) from {len(todo)} '
          f'images this run ({len(done)} done before); dropped: ' +
          ', '.join(f'{counts[r]} {r}' for r in REASONS) + f'; list: {args.out_list}')


if __name__ == '__main__':
    with user_errors(PROG):
        main()
