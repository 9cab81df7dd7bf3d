"""Crop the hands of HandMIM's pre-training sources into one folder + list.

    python tools/dataset_converters/make_pretrain_crops.py --out-dir data/handmim_crops \
        [--coco-wholebody ANN_JSON IMG_DIR]... [--freihand ROOT] [--ho3d ROOT] \
        [--youtube3d ANN_JSON IMG_DIR] [--image-list LIST [IMG_DIR]]... \
        [--size 256] [--padding 1.25] [--min-box 16] [--workers N] [--overwrite]

Any subset of the sources, each option repeatable (the paper mixes FreiHAND training,
Youtube3DHands, COCO-WholeBody hand boxes and HO3D: 221,602 crops):

* ``--coco-wholebody ANN_JSON IMG_DIR``: every ``lefthand_box``/``righthand_box`` whose
  ``*_valid`` flag is true (e.g. ``coco_wholebody_train_v1.0.json`` + ``coco/train2017``).
* ``--freihand ROOT``: ``ROOT/training/rgb/*.jpg`` whole (already 224 px hand-centred crops);
  ``--freihand-versions`` picks among the 4 renderings ``gs hom sample auto`` (default all).
* ``--ho3d ROOT``: the train split, box of the projected joints (``HO3DMeshDataset``);
  ``--ho3d-version auto|v2|v3`` (auto: png = v2, jpg = v3).
* ``--youtube3d ANN_JSON IMG_DIR``: ``youtube_train.json``, box of the mesh vertices (pixels
  of the annotated ``width x height``, scaled per axis to the frame on disk: the downloader
  saves today's stream, often of another size; frames of another aspect ratio are dropped).
* ``--image-list LIST [IMG_DIR]``: lines ``path [x0 y0 x1 y1] [l|r]`` (paths relative to
  IMG_DIR, default the list's folder; no box = whole image; ``l`` = left hand; a path with
  spaces in double quotes; a NaN, empty or malformed box refuses the list, naming the lines).

Each hand becomes a square crop around its box centre, side = ``--padding`` x the longer box
side (zeros where it leaves the image), resized to ``--size`` (the rule of ``LoadHandCrop``);
whole images (FreiHAND, list lines without a box) are padded to a square instead. **Left
hands are mirrored**, so every crop is a right hand. Boxes whose shorter side is below
``--min-box`` px are skipped (all boxed sources; whole images never; default 16 px, the
reason is in ``mmhandmim/datasets/hand_boxes.py``: COCO-WholeBody's hands are ~17 px). A box
entirely outside its image is skipped; one partly outside is kept (the crop is zero-padded).

Every hand is written or dropped for one counted reason; the summary table at the end gives,
per source, the hands offered and the number dropped per reason (invalid flag, empty box, too
small, aspect mismatch, outside image, missing image, unreadable image), the crops written,
the Youtube3DHands frames rescaled to their size on disk and the left hands mirrored.

Output (``--out-dir``): ``images/%08d.jpg``; ``list.txt``, one ``images/XXXXXXXX.jpg`` per
line (right hands, no box: train with ``UnlabeledHandDataset(data_root=OUT,
ann_file='list.txt')``, as ``configs/_base_/datasets/handmim_pretrain.py`` does);
``sources.json`` (settings, arguments, per-source counts and index ranges, failures);
``origins.tsv`` (crop, source, image, box, side: where each crop came from). Crops are
numbered in source order (COCO-WholeBody, FreiHAND, HO3D, Youtube3DHands, lists), whatever
``--workers``; an unreadable image leaves a gap in the numbering and is listed in
sources.json. A non-empty ``--out-dir`` is refused unless ``--overwrite``, which deletes
only the files this tool writes (after the sources were read successfully), and never when a
source image lies in ``--out-dir/images`` (it would delete the inputs).

Images without annotations: detect the hands
--------------------------------------------
The paper crops COCO 2017 train/unlabeled images around the hands MediaPipe finds.
``tools/dataset_converters/detect_hands.py IMAGE_DIR --out-list hands.txt`` does that
(``make install-detect``; resumable, drops counted per reason) and writes the
``--image-list`` format read here: ``--image-list hands.txt IMAGE_DIR``. Any other detector
works too: write its boxes as lines ``path x0 y0 x1 y1 [l|r]`` (pixels; ``l`` = a left hand,
mirrored to a right one; a path with spaces in double quotes). This tool never downloads a
model. The paper's whole mix, step by step: docs/data_preparation.md.
"""
import argparse
import datetime
import json
import os
import os.path as osp
import re
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if REPO_ROOT not in sys.path:  # runs from a checkout without installing the package
    sys.path.insert(0, REPO_ROOT)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations, before mmengine)
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from mmhandmim.datasets.pretrain_sources import (  # noqa: E402
    DEFAULT_MIN_BOX, DROP_REASONS, FREIHAND_VERSIONS, PretrainSourceError, crop_square,
    find_missing, outside_image, read_source, small_boxes, square_crop_windows,
    whole_image_window)
from mmhandmim.datasets.pretrain_crop_report import (  # noqa: E402
    collect_results, drop_warnings, format_summary)
from mmhandmim.utils.atomic_io import atomic_write_text  # noqa: E402
from mmhandmim.utils.cli import user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402

PROG = 'make_pretrain_crops.py'
IMAGES_DIR = 'images'
OUTPUT_FILES = ('list.txt', 'sources.json', 'origins.tsv')
CROP_NAME = re.compile(r'^\d{8}\.jpg$')
MAX_LISTED = 100  # failures / missing images named in sources.json


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description='Crop hands from HandMIM pre-training sources into one folder + list '
                    '(left hands mirrored to right hands).',
        epilog='See the module docstring for the sources, outputs and how to add images '
               'without annotations with a hand detector.')
    p.add_argument('--out-dir', required=True, help='output folder (images/, list.txt, ...)')
    p.add_argument('--coco-wholebody', nargs=2, action='append', default=[],
                   metavar=('ANN_JSON', 'IMG_DIR'), help='COCO-WholeBody json + image folder')
    p.add_argument('--freihand', action='append', default=[], metavar='ROOT',
                   help='FreiHAND_pub_v2 folder (training/rgb taken whole)')
    p.add_argument('--freihand-versions', nargs='+', default=list(FREIHAND_VERSIONS),
                   choices=FREIHAND_VERSIONS, help='FreiHAND renderings to use (default all)')
    p.add_argument('--ho3d', action='append', default=[], metavar='ROOT',
                   help='HO3D folder (train split)')
    p.add_argument('--ho3d-version', default='auto', choices=('auto', 'v2', 'v3'))
    p.add_argument('--youtube3d', nargs=2, action='append', default=[],
                   metavar=('ANN_JSON', 'IMG_DIR'), help='youtube_train.json + image folder')
    p.add_argument('--image-list', nargs='+', action='append', default=[],
                   metavar=('LIST', 'IMG_DIR'),
                   help='list file, lines "path [x0 y0 x1 y1] [l|r]"; paths relative to '
                        'IMG_DIR (default: the list file\'s folder)')
    p.add_argument('--size', type=int, default=256, help='side of the written crops (px)')
    p.add_argument('--padding', type=float, default=1.25,
                   help='crop side / longer box side (as LoadHandCrop)')
    p.add_argument('--min-box', type=float, default=DEFAULT_MIN_BOX,
                   help='skip boxes whose shorter side is below this (px; default %(default)s:'
                        ' a 16 px hand is ~2 source px per 16 px ViT patch; COCO-WholeBody '
                        'hands are ~17 px, 32 drops nearly all of them)')
    p.add_argument('--quality', type=int, default=95, help='JPEG quality')
    p.add_argument('--workers', type=int, default=0,
                   help='crop with a pool of N threads (OpenCV releases the GIL); 0: no pool')
    p.add_argument('--overwrite', action='store_true',
                   help='replace the outputs of an earlier run in --out-dir')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = p.parse_args(argv)
    for lst in args.image_list:
        if len(lst) > 2:
            p.error(f'--image-list takes LIST [IMG_DIR], got {len(lst)} values: {lst}')
    if not (args.coco_wholebody or args.freihand or args.ho3d or args.youtube3d
            or args.image_list):
        p.error('give at least one source: --coco-wholebody, --freihand, --ho3d, '
                '--youtube3d or --image-list')
    if args.size < 16 or args.padding <= 0 or args.min_box < 0 or args.workers < 0 \
            or not 1 <= args.quality <= 100:
        p.error('need --size >= 16, --padding > 0, --min-box >= 0, --workers >= 0, '
                '1 <= --quality <= 100')
    return args


def source_specs(args):
    """(kind, args, kwargs) of each source, in crop-numbering order."""
    specs = [('coco-wholebody', tuple(a), {}) for a in args.coco_wholebody]
    specs += [('freihand', (r, ), dict(versions=args.freihand_versions)) for r in args.freihand]
    specs += [('ho3d', (r, ), dict(version=args.ho3d_version)) for r in args.ho3d]
    specs += [('youtube3d', tuple(a), {}) for a in args.youtube3d]
    specs += [('image-list', tuple(a), {}) for a in args.image_list]
    return specs


# --- output folder -------------------------------------------------------------------------
def _own_outputs(out_dir):
    """The files of an earlier run: images/%08d.jpg, list.txt, sources.json, origins.tsv."""
    files = [osp.join(out_dir, f) for f in OUTPUT_FILES if osp.isfile(osp.join(out_dir, f))]
    img_dir = osp.join(out_dir, IMAGES_DIR)
    if osp.isdir(img_dir):
        files += [e.path for e in os.scandir(img_dir) if e.is_file() and CROP_NAME.match(e.name)]
    return files


def check_out_dir(out_dir, overwrite):
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise UserInputError(f'--out-dir {out_dir!r} exists and is not a folder')
    if osp.isdir(out_dir) and os.listdir(out_dir) and not overwrite:
        raise UserInputError(f'output folder {out_dir!r} is not empty; pass --overwrite to '
                             'replace an earlier run\'s crops there (only images/%08d.jpg, '
                             f'{", ".join(OUTPUT_FILES)} are deleted)')


def check_inputs_outside(out_dir, sources):
    """Refuse a source image inside ``--out-dir/images``: --overwrite would delete it and
    the crops would replace it."""
    img_dir = osp.realpath(osp.join(out_dir, IMAGES_DIR))
    for src in sources:
        for folder in {osp.dirname(p) for p in src.img_paths}:
            real = osp.realpath(folder)
            if real == img_dir or real.startswith(img_dir + os.sep):
                first = next(p for p in src.img_paths if osp.dirname(p) == folder)
                raise UserInputError(
                    f'{src.kind}: source image {first} lies in the output folder '
                    f'{img_dir}, whose files this tool replaces; choose another --out-dir')


def clear_out_dir(out_dir):
    files = _own_outputs(out_dir)
    for f in files:
        os.remove(f)
    img_dir = osp.join(out_dir, IMAGES_DIR)
    if osp.isdir(img_dir) and not os.listdir(img_dir):
        os.rmdir(img_dir)
    return len(files)


# --- planning ------------------------------------------------------------------------------
def plan(sources, min_box, padding):
    """Drop small boxes and missing images (counted); number the crops; group them by image.

    Returns ``(jobs, records, origins)``: jobs ``(img_path, [(index, window or None, box,
    flip), ...])`` (window ``(x0, y0, side)``; None = whole image); one record per source
    (counts); origins ``{index: (kind, image, box, side)}``.
    """
    jobs, records, origins, index = {}, [], {}, 0
    for src in sources:
        hands = src.hands
        src.drop(small_boxes(src.boxes, min_box), 'too small')
        missing = find_missing(src.img_paths)
        if len(src) and missing.all():
            raise PretrainSourceError(
                f'{src.kind}: none of its {len(src)} images exist (first: '
                f'{src.img_paths[0]!r}); is the image folder right? ({src.inputs})')
        missing_paths = [p for p, m in zip(src.img_paths, missing) if m][:MAX_LISTED]
        src.drop(missing, 'missing image')
        windows = square_crop_windows(src.boxes, padding)
        whole = src.whole
        first_index = index
        for i in range(len(src)):
            window = None if whole[i] else tuple(int(v) for v in windows[i])
            jobs.setdefault(src.img_paths[i], []).append(
                (index, window, src.boxes[i], bool(src.left[i])))
            origins[index] = (src.kind, src.img_paths[i],
                              '' if whole[i] else ' '.join(f'{v:.1f}' for v in src.boxes[i]),
                              'l' if src.left[i] else 'r')
            index += 1
        records.append(dict(
            kind=src.kind, inputs=src.inputs, hands=hands,
            dropped={r: src.dropped.get(r, 0) for r in DROP_REASONS},
            examples=dict(src.examples), rescaled=src.rescaled,
            left_flipped=int(src.left.sum()), first_index=first_index, end_index=index,
            written=0, missing=missing_paths))
    return list(jobs.items()), records, origins


# --- cropping ------------------------------------------------------------------------------
def crop_one_image(job, out_img_dir, size, quality):
    """Read one image once, write each of its crops.

    Returns ``[(index, None or (reason, detail))]``: reason ``'unreadable image'`` or
    ``'outside image'`` (the box has no part in the image as decoded).
    """
    path, crops = job
    try:
        with open(path, 'rb') as f:
            data = f.read()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError('not a decodable image')
    except Exception as exc:  # noqa: BLE001 - any read/decode failure: report, go on
        return [(c[0], ('unreadable image', f'{type(exc).__name__}: {exc}')) for c in crops]
    h, w = img.shape[:2]
    results = []
    for index, window, box, flip in crops:
        out_path = osp.join(out_img_dir, f'{index:08d}.jpg')
        if outside_image(box, w, h)[0]:
            results.append((index, ('outside image', f'box {np.round(box, 1).tolist()} lies '
                                    f'outside the {w} x {h} image')))
            continue
        if window is None and not flip and (h, w) == (size, size) and \
                path.lower().endswith(('.jpg', '.jpeg')):
            with open(out_path, 'wb') as f:  # already a right-sized jpg: no re-encoding
                f.write(data)
        else:
            x0, y0, side = window if window is not None else whole_image_window(w, h)
            crop = crop_square(img, x0, y0, side, size, flip)
            if not cv2.imwrite(out_path, crop, [cv2.IMWRITE_JPEG_QUALITY, quality]):
                raise OSError(f'cannot write {out_path}')
        results.append((index, None))
    return results


def run_jobs(jobs, out_img_dir, size, quality, workers=0, progress=True):
    """Crop every job (in a thread pool with ``workers`` > 0); {index: error or None}."""
    total = sum(len(c) for _, c in jobs)
    status = {}
    with tqdm(total=total, unit='crop', desc='cropping', disable=not progress,
              dynamic_ncols=True, smoothing=0.05) as bar:
        def collect(results):
            status.update(results)
            bar.update(len(results))

        if workers <= 0:
            for job in jobs:
                collect(crop_one_image(job, out_img_dir, size, quality))
            return status
        with ThreadPoolExecutor(workers) as pool:
            pending = set()
            for job in jobs:  # bounded number of jobs in flight
                pending.add(pool.submit(crop_one_image, job, out_img_dir, size, quality))
                if len(pending) >= 4 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        collect(fut.result())
            for fut in pending:
                collect(fut.result())
    return status


# --- outputs -------------------------------------------------------------------------------
def main(argv=None):
    """Run the tool; returns the sources.json content."""
    args = parse_args(argv)
    check_out_dir(args.out_dir, args.overwrite)
    sources = []
    for kind, pos, kw in source_specs(args):
        print(f'reading {kind}: {" ".join(pos)}', flush=True)
        sources.append(read_source(kind, *pos, **kw))
    check_inputs_outside(args.out_dir, sources)
    jobs, records, origins = plan(sources, args.min_box, args.padding)
    if osp.isdir(args.out_dir):
        removed = clear_out_dir(args.out_dir)
        if removed:
            print(f'--overwrite: removed {removed} files of an earlier run', flush=True)
    out_img_dir = osp.join(args.out_dir, IMAGES_DIR)
    os.makedirs(out_img_dir, exist_ok=True)
    status = run_jobs(jobs, out_img_dir, args.size, args.quality, args.workers,
                      progress=not args.no_progress)
    written, skipped = collect_results(records, status, origins)
    counts = {}
    for r in records:
        counts[r['kind']] = counts.get(r['kind'], 0) + r['written']
    names = [f'{IMAGES_DIR}/{i:08d}.jpg' for i in written]
    atomic_write_text(''.join(n + '\n' for n in names), osp.join(args.out_dir, 'list.txt'))
    atomic_write_text('crop\tsource\timage\tbox\tside\n' +
                      ''.join(f'{n}\t' + '\t'.join(origins[i]) + '\n'
                              for n, i in zip(names, written)),
                      osp.join(args.out_dir, 'origins.tsv'))
    summary = dict(
        tool='tools/dataset_converters/make_pretrain_crops.py',
        created=datetime.datetime.now().isoformat(timespec='seconds'),
        settings=dict(size=args.size, padding=args.padding, min_box=args.min_box,
                      quality=args.quality, left_hands='mirrored to right hands'),
        arguments=vars(args),
        total=len(written),
        counts=counts,
        sources=records,
        failed=[dict(crop=f'{IMAGES_DIR}/{i:08d}.jpg', image=origins[i][1], reason=reason,
                     error=detail) for i, (reason, detail) in skipped[:MAX_LISTED]])
    atomic_write_text(json.dumps(summary, indent=1), osp.join(args.out_dir, 'sources.json'))
    print(format_summary(records, len(written)))
    for line in drop_warnings(records):
        print(line, file=sys.stderr)
    if not written:  # an empty pre-training set is never what was asked for
        raise UserInputError(
            'no crops written: every hand was dropped (the reasons are counted in the table '
            f'above and in {osp.join(args.out_dir, "sources.json")}); check the sources and '
            '--min-box')
    print(f'wrote {len(written)} crops to {osp.join(args.out_dir, IMAGES_DIR)} and '
          f'{osp.join(args.out_dir, "list.txt")}; skipped hands are counted per reason '
          f'above and listed in {osp.join(args.out_dir, "sources.json")}')
    return summary


if __name__ == '__main__':
    with user_errors(PROG):
        main()
