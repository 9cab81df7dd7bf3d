"""Estimate hand meshes in images: mesh overlay, side view and one .obj per hand.

    python demo/image_demo.py CONFIG CHECKPOINT INPUT [--bbox X1 Y1 X2 Y2 [X1 ...]]
        [--bboxes JSON | --whole-image] [--left] [--min-score S] [--focal F]
        [--out-dir DIR] [--device cpu] [--overwrite]

INPUT is an image or a folder of images. Without boxes every hand MediaPipe finds is
estimated, with its side (``make install-detect``; ``--min-score``); ``--whole-image`` takes
the whole image as one hand instead. Each hand in the overlay is labelled with its side. For each
image writes ``<stem>_overlay.png`` (meshes over the image, 2D keypoints drawn),
``<stem>_side.png`` (the meshes turned 90 degrees) and ``<stem>_hand<i>.obj`` (camera frame,
metres). ``--bboxes`` is a JSON file or JSON text: a list of boxes for every image, or
``{"<image file name>": [box, ...]}``; a box is ``[x1, y1, x2, y2]`` or
``{"bbox": [x1, y1, x2, y2], "side": "left"}``. Without ``--focal`` the camera is the API's
default (``mmhandmim.apis.default_intrinsics``).
"""
import argparse
import json
import os
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
if ROOT not in sys.path:  # run from anywhere without installing the package
    sys.path.insert(0, ROOT)
import mmhandmim.compat  # noqa: E402,F401  (the stack's run-time fixes, before mmengine)

import numpy as np  # noqa: E402

from mmhandmim.utils.cli import user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
#: mesh colours (RGB in [0, 1]) by hand side
COLORS = dict(right=(0.85, 0.55, 0.45), left=(0.45, 0.6, 0.85))


def parse_args(argv=None):
    from mmengine.config import DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('input', help='an image or a folder of images')
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument('--bbox', type=float, nargs='+', metavar='X',
                       help='hand boxes x1 y1 x2 y2 [x1 y1 x2 y2 ...] for every image')
    boxes.add_argument('--bboxes', metavar='JSON',
                       help='JSON file or text: boxes (and sides) per image, see above')
    boxes.add_argument('--whole-image', action='store_true',
                       help='the whole image is one hand (no detection)')
    p.add_argument('--left', action='store_true',
                   help='hands are left hands (unless --bboxes gives a side; with '
                   'detection: all detected hands)')
    p.add_argument('--min-score', type=float, default=0.5,
                   help='without boxes: lowest handedness score of a detected hand')
    p.add_argument('--focal', type=float,
                   help='focal length in pixels (principal point at the image centre)')
    p.add_argument('--out-dir', default='work_dirs/image_demo')
    p.add_argument('--device', default='cpu')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--overwrite', action='store_true', help='replace existing outputs')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config keys, e.g. model.head.mano.model_path=data/mano')
    return p.parse_args(argv)


def list_images(path):
    if osp.isdir(path):
        images = sorted(osp.join(path, f) for f in os.listdir(path)
                        if f.lower().endswith(IMAGE_EXTS))
        if not images:
            raise UserInputError(f'no images ({", ".join(IMAGE_EXTS)}) in folder {path!r}')
        return images
    if not osp.isfile(path):
        raise UserInputError(f'input not found: {path!r} (give an image or a folder)')
    return [path]


def _read_box_spec(args):
    """-> None, or a function image path -> list of (box, side or None)."""
    if args.bbox is not None:
        if len(args.bbox) % 4:
            raise UserInputError(f'--bbox takes 4 numbers per box (x1 y1 x2 y2), got '
                                 f'{len(args.bbox)}')
        boxes = [(args.bbox[i:i + 4], None) for i in range(0, len(args.bbox), 4)]
        return lambda img: boxes
    if args.bboxes is None:
        return None
    try:
        if osp.isfile(args.bboxes):
            with open(args.bboxes) as f:
                spec = json.load(f)
        else:
            spec = json.loads(args.bboxes)
    except json.JSONDecodeError as exc:
        raise UserInputError(f'--bboxes is neither a file nor valid JSON: {exc}') from None

    def entries(items, where):
        if not isinstance(items, list):
            raise UserInputError(f'--bboxes{where}: expected a list of boxes, got {items!r}')
        out = []
        for item in items:
            if isinstance(item, dict):
                if 'bbox' not in item:
                    raise UserInputError(f'--bboxes{where}: box entry without "bbox": {item}')
                out.append((item['bbox'], item.get('side')))
            else:
                out.append((item, None))
        return out

    if isinstance(spec, dict):
        table = {name: entries(items, f'[{name!r}]') for name, items in spec.items()}
        return lambda img: table.get(osp.basename(img))
    boxes = entries(spec, '')
    return lambda img: boxes


def output_paths(out_dir, image, num_hands):
    stem = osp.join(out_dir, osp.splitext(osp.basename(image))[0])
    return dict(stem=stem, overlay=f'{stem}_overlay.png', side=f'{stem}_side.png',
                objs=hand_objs(stem, num_hands))


def hand_objs(stem, num_hands):
    return [f'{stem}_hand{i}.obj' for i in range(num_hands)]


def existing_outputs(outputs):
    """Outputs of one image that exist; with detection (count unknown) any hand .obj."""
    import glob
    paths = [outputs['overlay'], outputs['side']] + outputs['objs']
    if outputs.get('detect'):
        paths += glob.glob(glob.escape(outputs['stem']) + '_hand*.obj')
    return [p for p in paths if osp.exists(p)]


def plan(images, box_spec, default_side, out_dir, overwrite, detect=False):
    """Boxes, sides and outputs of every image, checked before any work is done; with
    ``detect`` (no boxes given) the boxes are ``'detect'`` and the sides come from the
    detector unless ``default_side`` forces one."""
    jobs, stems = [], {}
    for img in images:
        stem = osp.splitext(osp.basename(img))[0]
        if stem in stems:
            raise UserInputError(f'{stems[stem]} and {img} would write the same outputs '
                                 f'({stem}_*); rename one')
        stems[stem] = img
        entries = box_spec(img) if box_spec is not None else None
        if entries is not None:
            bboxes, sides = [b for b, _ in entries], [s or default_side for _, s in entries]
            outputs = output_paths(out_dir, img, len(entries))
        elif detect:
            bboxes, sides = 'detect', default_side
            outputs = dict(output_paths(out_dir, img, 0), detect=True)
        else:
            bboxes, sides, outputs = None, default_side, output_paths(out_dir, img, 1)
        if not overwrite:
            for path in existing_outputs(outputs):
                raise UserInputError(f'output exists and would be overwritten: {path!r} '
                                     '(pass --overwrite or choose another --out-dir)')
        jobs.append((img, bboxes, sides, outputs))
    return jobs


def merged_mesh(hands):
    """All hands as one mesh (faces offset, per-vertex colours by side): one z-buffered
    render gets their mutual occlusion right."""
    offsets = np.cumsum([0] + [len(h['vertices']) for h in hands[:-1]])
    verts = np.concatenate([h['vertices'] for h in hands]).astype(np.float64)
    faces = np.concatenate([h['faces'] + o for h, o in zip(hands, offsets)])
    colors = np.concatenate([np.tile(COLORS[h['hand_side']], (len(h['vertices']), 1))
                             for h in hands])
    return verts, faces, colors


def render(image, hands):
    """-> (overlay, side view) BGR uint8 images of the image's size."""
    from mmhandmim.hand_model import skeleton_links
    from mmhandmim.visualization import draw_keypoints, render_mesh, render_side_view
    H, W = image.shape[:2]
    if not hands:
        return image.copy(), np.full_like(image, 255)
    verts, faces, colors = merged_mesh(hands)
    overlay = render_mesh(verts, faces, hands[0]['cam_K'], (H, W), color=colors, image=image)
    size = max(1, round(max(H, W) / 256))  # marks that stay visible on large images
    import cv2
    for hand in hands:
        overlay = draw_keypoints(overlay, hand['keypoints'], links=skeleton_links('freihand'),
                                 radius=size, thickness=size, copy=False)
        # each hand labelled with its side (and detection score) at its box's corner
        x1, y1 = (int(round(v)) for v in hand['bbox'][:2])
        label = hand['hand_side'] + (f' {hand["detection_score"]:.2f}'
                                     if 'detection_score' in hand else '')
        org = (min(max(x1, 0), W - 1), min(max(y1 - 3 * size, 10 * size), H - 1))
        cv2.putText(overlay, label, org, cv2.FONT_HERSHEY_SIMPLEX, 0.4 * size,
                    tuple(int(255 * c) for c in COLORS[hand['hand_side']][::-1]), size,
                    cv2.LINE_AA)
    side = render_side_view(verts, faces, (H, W), color=colors,
                            image=np.full_like(image, 255))
    return overlay, side


def write_outputs(image, hands, outputs):
    import cv2

    from mmhandmim.apis import write_obj
    overlay, side = render(image, hands)
    for path, img in ((outputs['overlay'], overlay), (outputs['side'], side)):
        if not cv2.imwrite(path, img):
            raise UserInputError(f'could not write {path!r}')
    if outputs.get('detect'):  # as many .obj files as hands were found
        outputs = dict(outputs, objs=hand_objs(outputs['stem'], len(hands)))
    for path, hand in zip(outputs['objs'], hands):
        write_obj(path, hand['vertices'], hand['faces'],
                  comment=f'{hand["hand_side"]} hand, camera frame (x right, y down, '
                  f'z forward), metres')


def main(argv=None):
    args = parse_args(argv)
    with user_errors('image_demo.py'):
        if args.focal is not None and args.focal <= 0:
            raise UserInputError(f'--focal must be positive, got {args.focal}')
        images = list_images(args.input)
        box_spec = _read_box_spec(args)
        detect = box_spec is None and not args.whole_image
        default_side = 'left' if args.left else (None if detect else 'right')
        jobs = plan(images, box_spec, default_side, args.out_dir, args.overwrite, detect)
        detector = None
        if detect:  # one detector for every image; a missing mediapipe fails here, 1 line
            from mmhandmim.apis.hand_detection import HandDetector
            detector = HandDetector(min_score=args.min_score)
        import mmcv
        import torch
        from mmengine.utils import ProgressBar

        from mmhandmim.apis import (InferenceInputError, inference_mesh_model,
                                    init_mesh_model)
        if args.device.startswith('cuda') and not torch.cuda.is_available():
            raise UserInputError(f'--device {args.device}: CUDA is not available here')
        model = init_mesh_model(args.config, args.checkpoint, device=args.device,
                                cfg_options=args.cfg_options)
        os.makedirs(args.out_dir, exist_ok=True)
        bar = ProgressBar(len(jobs))
        num_hands = 0
        for img_path, bboxes, sides, outputs in jobs:
            image = mmcv.imread(img_path)
            if image is None:
                raise UserInputError(f'cannot decode {img_path!r} as an image')
            K = None
            if args.focal is not None:
                H, W = image.shape[:2]
                K = np.array([[args.focal, 0, W / 2], [0, args.focal, H / 2], [0, 0, 1]])
            try:
                hands = inference_mesh_model(
                    model, image, None if bboxes == 'detect' else bboxes, sides, K,
                    batch_size=args.batch_size,
                    detector=detector if bboxes == 'detect' else None)
            except InferenceInputError as exc:
                raise UserInputError(f'{img_path}: {exc}') from None
            write_outputs(image, hands, outputs)
            num_hands += len(hands)
            bar.update()
        if detector is not None:
            detector.close()
    print(f'\nwrote {num_hands} hand(s) from {len(jobs)} image(s) to {args.out_dir}')


if __name__ == '__main__':
    main()
