"""Readers of the HandMIM pre-training json sources, and the errors of every reader.

COCO-WholeBody and Youtube3DHands here (used by ``make_pretrain_crops.py`` through
``pretrain_sources``, and by ``UnlabeledHandDataset`` for the COCO-WholeBody json); FreiHAND,
HO3D and hand lists in ``pretrain_sources`` (HO3D needs the mesh datasets, which import
``unlabeled_hands``). Each returns a :class:`HandBoxes`. A missing file or folder raises
:class:`PretrainSourceError` (a ``FileNotFoundError``), content that cannot be right (NaN
boxes, bad list lines, vertices that are not 778 x 3 numbers) :class:`PretrainAnnotationError`
(a ``ValueError``), both one line naming the file and what was expected. Hands that are fine
as a file but cannot give a crop (invalid flag, empty box, box outside the image, a frame of
another aspect ratio) are dropped and counted in ``HandBoxes.dropped``.

Sources (as the datasets publish them):

* COCO-WholeBody ``coco_wholebody_{train,val}_v1.0.json``: ``images[*]`` (``id``,
  ``file_name``, ``width``, ``height``) and ``annotations[*]`` (``image_id``,
  ``lefthand_box``/``righthand_box`` COCO ``[x, y, w, h]`` pixels,
  ``lefthand_valid``/``righthand_valid``; invalid boxes are all zeros). Order: annotation
  order, left hand before right hand.
* FreiHAND v2 ``training/rgb/%08d.jpg``: 4 x N hand-centred 224 crops, image ``k`` is
  rendering ``k // N`` (``gs, hom, sample, auto``) of frame ``k % N``; taken whole.
* HO3D v2/v3 train split: the tight box of the projected joints,
  ``HO3DMeshDataset(...).get_data_info(i)['bbox']``; right hands only.
* Youtube3DHands ``youtube_{train,val,test}.json``: ``images[*]`` (``id``, ``name``,
  ``width``, ``height``), ``annotations[*]`` (``image_id``, ``vertices`` 778 x 3, x/y in
  pixels of ``width x height``, ``is_left``); the box is the x/y extent of the vertices. The
  official downloader saves today's best stream of each video, often of another size than
  the annotated one: the box is scaled per axis to the frame on disk (its size read from the
  file header), and a frame of another aspect ratio (cropped or padded, not resized) is
  dropped.
* A hand list file (``hand_lists``): ``path [x0 y0 x1 y1] [l|r]``.
"""
import json
import os.path as osp

import numpy as np

from .annotation_checks import AnnotationError
from .errors import DatasetLayoutError
from .hand_boxes import (ASPECT_TOLERANCE, HandBoxes, find_missing, first_code,
                         outside_image, read_image_size)
from .hand_lists import LIST_FORMAT

SOURCE_KINDS = ('coco-wholebody', 'freihand', 'ho3d', 'youtube3d', 'image-list')
#: FreiHAND's four renderings of each training frame, in file order (as freihand.py)
FREIHAND_VERSIONS = ('gs', 'hom', 'sample', 'auto')
NUM_VERTICES = 778

EXPECTED = {
    'coco-wholebody': 'a COCO-WholeBody annotation json (e.g. coco_wholebody_train_v1.0.json: '
                      'images[*].id/file_name/width/height, annotations[*].image_id/'
                      'lefthand_box/righthand_box/lefthand_valid/righthand_valid) and the '
                      'folder holding its images (e.g. coco/train2017)',
    'freihand': 'the FreiHAND_pub_v2 folder with training/rgb/%08d.jpg (4 x 32,560 images)',
    'ho3d': 'the HO3D v2/v3 folder with train.txt, train/<SEQ>/rgb/<frame>.png|jpg and '
            'train/<SEQ>/meta/<frame>.pkl',
    'youtube3d': 'youtube_train.json (images[*].id/name/width/height, annotations[*].'
                 'image_id/vertices/is_left) and the folder the image names are relative to',
    'image-list': f'a text file with lines "path [x0 y0 x1 y1] [l|r]" ({LIST_FORMAT}; paths '
                  'relative to the image folder, by default the list file\'s folder)',
}


class PretrainSourceError(DatasetLayoutError):
    """A pre-training source whose files are missing or unreadable (one clear line)."""


class PretrainAnnotationError(AnnotationError):
    """An annotation or list file with unexpected content (one clear line)."""


def source_error(kind, problem):
    return PretrainSourceError(f'{kind}: {problem}. Expected: {EXPECTED[kind]}')


def need_file(kind, path, what):
    if not osp.isfile(path):
        raise source_error(kind, f'{what} {path!r} does not exist' if not osp.exists(path) else
                     f'{what} {path!r} is not a file')


def need_dir(kind, path, what):
    if not osp.isdir(path):
        raise source_error(kind, f'{what} {path!r} does not exist' if not osp.exists(path) else
                     f'{what} {path!r} is not a folder')


def _load_json(kind, path, object_hook=None):
    try:
        with open(path, 'rb') as f:
            return json.load(f, object_hook=object_hook)
    except json.JSONDecodeError as exc:
        raise PretrainAnnotationError(
            f'{kind}: {path} is not valid JSON ({exc.msg} at line {exc.lineno}); the file is '
            'probably truncated: download it again') from None


def _need_keys(kind, path, data, keys):
    if not isinstance(data, dict) or any(k not in data for k in keys):
        have = sorted(data)[:10] if isinstance(data, dict) else type(data).__name__
        raise PretrainAnnotationError(f'{kind}: {path} has no {"/".join(keys)} (found '
                                      f'{have}). Expected: {EXPECTED[kind]}')


def _image_sizes(images, ids):
    """(N, 2) annotated ``width, height`` of the images ``ids`` (NaN where not given)."""
    sizes = {img.get('id'): (img.get('width'), img.get('height')) for img in images}
    out = np.array([sizes[i] for i in ids], dtype=object)
    return np.array([[v if isinstance(v, (int, float)) and v > 0 else np.nan for v in row]
                     for row in out], np.float64).reshape(-1, 2)


# --- COCO-WholeBody ------------------------------------------------------------------------
def _coco_box(kind, ann_file, i, side, a):
    """The xywh box of a hand whose valid flag is set (refused if not 4 finite numbers)."""
    try:
        box = np.asarray(a.get(f'{side}hand_box'), np.float64).reshape(4)
    except (TypeError, ValueError):
        box = None
    if box is None or not np.isfinite(box).all():
        raise PretrainAnnotationError(
            f'{kind}: {ann_file}: annotations[{i}] (image_id {a.get("image_id")!r}) has '
            f'{side}hand_valid true but {side}hand_box {a.get(f"{side}hand_box")!r} is not 4 '
            'finite numbers [x, y, w, h]; fix the annotation or set the flag to false')
    return box


def read_coco_wholebody(ann_file, img_dir) -> HandBoxes:
    """Every hand slot of every person; dropped: invalid flag, empty box, outside image."""
    kind = 'coco-wholebody'
    need_file(kind, ann_file, 'annotation file')
    need_dir(kind, img_dir, 'image folder')
    keep = ('id', 'file_name', 'width', 'height', 'image_id', 'images', 'annotations',
            'lefthand_box', 'righthand_box', 'lefthand_valid', 'righthand_valid')

    def slim(d):  # drop keypoints/segmentations while parsing: a fraction of the memory
        return {k: v for k, v in d.items() if k in keep}

    coco = _load_json(kind, ann_file, slim)
    _need_keys(kind, ann_file, coco, ('images', 'annotations'))
    files = {img.get('id'): img.get('file_name') for img in coco['images']}
    anns = coco['annotations']
    unknown = [a.get('image_id') for a in anns if files.get(a.get('image_id')) is None]
    if unknown:
        raise PretrainAnnotationError(f'{kind}: {ann_file}: {len(unknown)} annotations refer '
                                      'to image ids not in images[] or without file_name '
                                      f'(first: {unknown[0]!r})')
    n = len(anns)
    boxes = np.zeros((n, 2, 4))  # (annotation, left/right, xywh)
    valid = np.zeros((n, 2), bool)
    for i, a in enumerate(anns):
        for s, side in enumerate(('left', 'right')):
            if a.get(f'{side}hand_valid'):
                valid[i, s] = True
                boxes[i, s] = _coco_box(kind, ann_file, i, side, a)
    boxes[..., 2:] += boxes[..., :2]  # xywh -> xyxy
    img_ids = [a['image_id'] for a in anns]
    sizes = np.repeat(_image_sizes(coco['images'], img_ids), 2, axis=0)
    paths = [osp.join(img_dir, files[i]) for i in img_ids for _ in range(2)]
    hb = HandBoxes(kind, dict(ann_file=ann_file, img_dir=img_dir), paths,
                   boxes.reshape(-1, 4), np.tile([True, False], n))
    empty = (hb.boxes[:, 2] <= hb.boxes[:, 0]) | (hb.boxes[:, 3] <= hb.boxes[:, 1])
    outside = outside_image(hb.boxes, sizes[:, 0], sizes[:, 1])
    return hb.drop_coded(first_code(~valid.reshape(-1), empty, outside),
                         ('invalid flag', 'empty box', 'outside image'))


# --- Youtube3DHands ------------------------------------------------------------------------
def _vertex_box(d):
    """JSON hook: the 778 x 3 vertices become their x/y box while parsing (bounded memory)."""
    if 'vertices' in d:
        try:
            v = np.asarray(d.pop('vertices'), np.float64)
        except (TypeError, ValueError):
            v = None
        if v is None or v.ndim != 2 or v.shape[1] != 3 or len(v) != NUM_VERTICES:
            d['box'] = f'vertices are not {NUM_VERTICES} x 3 numbers' + (
                '' if v is None else f' (shape {v.shape})')
        elif not np.isfinite(v).all():
            d['box'] = 'vertices are not finite (NaN or inf)'
        else:
            d['box'] = np.concatenate([v[:, :2].min(0), v[:, :2].max(0)])
    return d


def _youtube_refuse(kind, ann_file, anns, names, sizes_by_id):
    problems = []
    for i, a in enumerate(anns):
        box, img = a.get('box'), a.get('image_id')
        if box is None:
            problems.append((i, 'no vertices'))
        elif isinstance(box, str):
            problems.append((i, box))
        elif names.get(img) is None:
            problems.append((i, f'image_id {img!r} is not in images[] or has no name'))
        elif not np.isfinite(sizes_by_id[img]).all():
            problems.append((i, f'images[] entry {img!r} has no positive width/height (the '
                             'pixel size the vertices are given in)'))
    if problems:
        i, why = problems[0]
        raise PretrainAnnotationError(
            f'{kind}: {ann_file}: {len(problems)} unusable annotations (first: annotations'
            f'[{i}]: {why}); the file is not the official one: download it again. Expected: '
            f'{EXPECTED[kind]}')


def _frame_sizes(paths):
    """(N, 2) ``width, height`` of each frame on disk (NaN: missing), (N,) bool unreadable;
    one header read per distinct frame."""
    uniq = sorted(set(paths))
    missing = dict(zip(uniq, find_missing(uniq)))
    real = {p: None if missing[p] else read_image_size(p) for p in uniq}
    sizes = np.array([real[p] or (np.nan, np.nan) for p in paths], np.float64).reshape(-1, 2)
    unreadable = np.array([real[p] is None and not missing[p] for p in paths], bool)
    return sizes, unreadable


def read_youtube3d(ann_file, img_dir) -> HandBoxes:
    """Boxes of the mesh vertices, in pixels of the frame on disk (see the module doc)."""
    kind = 'youtube3d'
    need_file(kind, ann_file, 'annotation file')
    need_dir(kind, img_dir, 'image folder')
    data = _load_json(kind, ann_file, _vertex_box)
    _need_keys(kind, ann_file, data, ('images', 'annotations'))
    names = {img.get('id'): img.get('name', img.get('file_name')) for img in data['images']}
    anns = data['annotations']
    ids = list(names)
    sizes_by_id = dict(zip(ids, _image_sizes(data['images'], ids)))
    _youtube_refuse(kind, ann_file, anns, names, sizes_by_id)
    paths = [osp.join(img_dir, names[a['image_id']]) for a in anns]
    boxes = np.stack([a['box'] for a in anns]) if anns else np.zeros((0, 4))
    annotated = np.array([sizes_by_id[a['image_id']] for a in anns]).reshape(-1, 2)
    left = np.array([bool(a.get('is_left', 0)) for a in anns], bool)
    hb = HandBoxes(kind, dict(ann_file=ann_file, img_dir=img_dir), paths, boxes, left)
    real, unreadable = _frame_sizes(paths)
    scale = real / annotated  # NaN for missing frames: counted later as missing images
    with np.errstate(invalid='ignore'):
        mismatch = np.abs(scale[:, 0] / scale[:, 1] - 1) > ASPECT_TOLERANCE
        resized = ~mismatch & (np.abs(scale - 1) > 1e-9).any(1)
    hb.boxes[resized] *= np.tile(scale[resized], 2)  # continuous pixels scale exactly
    hb.rescaled = len({p for p, r in zip(paths, resized) if r})
    if mismatch.any():
        i = int(np.argmax(mismatch))
        hb.examples['aspect mismatch'] = (
            f'{paths[i]} is {real[i, 0]:.0f} x {real[i, 1]:.0f}, annotated '
            f'{annotated[i, 0]:.0f} x {annotated[i, 1]:.0f}')
    outside = outside_image(hb.boxes, real[:, 0], real[:, 1])
    return hb.drop_coded(first_code(unreadable, mismatch, outside),
                         ('unreadable image', 'aspect mismatch', 'outside image'))


__all__ = ['EXPECTED', 'FREIHAND_VERSIONS', 'PretrainAnnotationError', 'PretrainSourceError',
           'SOURCE_KINDS', 'need_dir', 'need_file', 'read_coco_wholebody', 'read_youtube3d',
           'source_error']
