"""Hand boxes from the HandMIM pre-training sources, and the square crop rule.

Used by ``tools/dataset_converters/make_pretrain_crops.py`` (which stays a thin CLI). Each
reader returns a :class:`HandBoxes`: one row per hand, with the image path, the box
``x0 y0 x1 y1`` in pixels (a NaN row = the whole image) and whether it is a left hand
(flipped to a right hand when cropped). Readers check their inputs and raise
:class:`PretrainSourceError` (a ``FileNotFoundError``, so the tools report it on one line)
naming the missing file or folder and what was expected there.

Sources (as the datasets publish them):

* COCO-WholeBody ``coco_wholebody_{train,val}_v1.0.json``: ``images[*]`` (``id``,
  ``file_name``) and ``annotations[*]`` (``image_id``, ``lefthand_box``/``righthand_box``
  COCO ``[x, y, w, h]``, ``lefthand_valid``/``righthand_valid``). Order: annotation order,
  left hand before right hand, as ``UnlabeledHandDataset`` reads the same json.
* FreiHAND v2 ``training/rgb/%08d.jpg``: 4 x N hand-centred 224 crops, image ``k`` is
  rendering ``k // N`` (``gs, hom, sample, auto``) of frame ``k % N``; taken whole.
* HO3D v2/v3 train split: the tight box of the projected joints,
  ``HO3DMeshDataset(...).get_data_info(i)['bbox']``; right hands only.
* Youtube3DHands ``youtube_{train,val,test}.json``: ``images[*]`` (``id``, ``name``),
  ``annotations[*]`` (``image_id``, ``vertices`` 778 x 3 in image pixels, ``is_left``); the
  box is the x/y extent of the vertices.
* A list file, lines ``path [x0 y0 x1 y1] [l|r]`` (``UnlabeledHandDataset``'s list format;
  ``#`` comments and blank lines allowed); no box = the whole image, no side = right.
"""
import json
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List

import cv2
import numpy as np

from ..utils.errors import UserInputError
from .errors import DatasetLayoutError

SOURCE_KINDS = ('coco-wholebody', 'freihand', 'ho3d', 'youtube3d', 'image-list')
#: FreiHAND's four renderings of each training frame, in file order (as freihand.py)
FREIHAND_VERSIONS = ('gs', 'hom', 'sample', 'auto')

EXPECTED = {
    'coco-wholebody': 'a COCO-WholeBody annotation json (e.g. coco_wholebody_train_v1.0.json: '
                      'images[*].id/file_name, annotations[*].image_id/lefthand_box/'
                      'righthand_box/lefthand_valid/righthand_valid) and the folder holding '
                      'its images (e.g. coco/train2017)',
    'freihand': 'the FreiHAND_pub_v2 folder with training/rgb/%08d.jpg (4 x 32,560 images)',
    'ho3d': 'the HO3D v2/v3 folder with train.txt, train/<SEQ>/rgb/<frame>.png|jpg and '
            'train/<SEQ>/meta/<frame>.pkl',
    'youtube3d': 'youtube_train.json (images[*].id/name, annotations[*].image_id/vertices/'
                 'is_left) and the folder the image names are relative to',
    'image-list': 'a text file with lines "path [x0 y0 x1 y1] [l|r]" (paths relative to the '
                  'image folder, by default the list file\'s folder)',
}


class PretrainSourceError(DatasetLayoutError):
    """A pre-training source whose files are missing or unreadable (one clear line)."""


class PretrainAnnotationError(UserInputError, ValueError):
    """An annotation or list file with unexpected content (one clear line)."""


def _error(kind, problem):
    return PretrainSourceError(f'{kind}: {problem}. Expected: {EXPECTED[kind]}')


def _need_file(kind, path, what):
    if not osp.isfile(path):
        raise _error(kind, f'{what} {path!r} does not exist' if not osp.exists(path) else
                     f'{what} {path!r} is not a file')


def _need_dir(kind, path, what):
    if not osp.isdir(path):
        raise _error(kind, f'{what} {path!r} does not exist' if not osp.exists(path) else
                     f'{what} {path!r} is not a folder')


@dataclass
class HandBoxes:
    """The hands of one source: ``boxes (N, 4)`` float64 ``x0 y0 x1 y1`` px (NaN = whole
    image), ``left (N,)`` bool, ``img_paths`` (N paths). ``inputs`` records where they came
    from (for the summary)."""
    kind: str
    inputs: Dict[str, object]
    img_paths: List[str]
    boxes: np.ndarray
    left: np.ndarray

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        self.left = np.asarray(self.left, bool).reshape(-1)
        if not len(self.img_paths) == len(self.boxes) == len(self.left):
            raise ValueError('img_paths, boxes and left must have one entry per hand')

    def __len__(self):
        return len(self.img_paths)

    @property
    def whole(self):
        """(N,) bool: rows without a box (the whole image is the crop)."""
        return np.isnan(self.boxes).any(1)


def small_boxes(boxes, min_box):
    """(N,) bool: boxes whose shorter side is below ``min_box`` px (whole images never)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    with np.errstate(invalid='ignore'):
        short = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return ~np.isnan(short) & (short < min_box)


def square_crop_windows(boxes, padding):
    """Integer square windows ``(x0, y0, side)`` around each box, vectorised.

    The rule of ``LoadHandCrop``: side = round(longer box side x ``padding``) (at least 1),
    centred on the box centre, top-left rounded to the pixel. Rows of NaN (whole images)
    give meaningless windows: use :func:`whole_image_window` once the image size is known.
    """
    boxes = np.nan_to_num(np.asarray(boxes, np.float64).reshape(-1, 4))
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    longer = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    side = np.maximum(np.round(longer * padding), 1)
    x0, y0 = np.round(cx - side / 2), np.round(cy - side / 2)
    return np.stack([x0, y0, side], 1).astype(np.int64)


def whole_image_window(width, height):
    """The square window that holds the whole image (zero bands on the short side)."""
    side = max(width, height)
    return int(round(width / 2 - side / 2)), int(round(height / 2 - side / 2)), side


def crop_square(img, x0, y0, side, size=None, flip=False):
    """The ``side`` x ``side`` window at ``(x0, y0)`` of ``img`` (zeros outside it), resized to
    ``size`` (area interpolation down, cubic up, as ``LoadHandCrop``) and mirrored if
    ``flip``. A window inside the image is resized straight from a view (no copy)."""
    h, w = img.shape[:2]
    if x0 >= 0 and y0 >= 0 and x0 + side <= w and y0 + side <= h:
        out = img[y0:y0 + side, x0:x0 + side]
    else:
        out = np.zeros((side, side) + img.shape[2:], img.dtype)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
    if size and side != size:
        out = cv2.resize(out, (size, size),
                         interpolation=cv2.INTER_AREA if side > size else cv2.INTER_CUBIC)
    if flip:
        return cv2.flip(out, 1)  # contiguous copy, faster than numpy's reversed view copy
    return np.ascontiguousarray(out)


def find_missing(paths):
    """(N,) bool: which paths are not existing files. One ``scandir`` per folder instead of
    one ``stat`` per file (fast on network file systems)."""
    listing = {}
    missing = np.zeros(len(paths), bool)
    for i, p in enumerate(paths):
        folder, name = osp.split(p)
        if folder not in listing:
            try:
                listing[folder] = {e.name for e in os.scandir(folder or '.') if not e.is_dir()}
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                listing[folder] = frozenset()
        missing[i] = name not in listing[folder]
    return missing


# --- readers -------------------------------------------------------------------------------
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


def read_coco_wholebody(ann_file, img_dir):
    kind = 'coco-wholebody'
    _need_file(kind, ann_file, 'annotation file')
    _need_dir(kind, img_dir, 'image folder')
    keep = ('id', 'file_name', 'image_id', 'images', 'annotations', 'lefthand_box',
            'righthand_box', 'lefthand_valid', 'righthand_valid')

    def slim(d):  # drop keypoints/segmentations while parsing: a fraction of the memory
        return {k: v for k, v in d.items() if k in keep}

    coco = _load_json(kind, ann_file, slim)
    _need_keys(kind, ann_file, coco, ('images', 'annotations'))
    files = {img['id']: img['file_name'] for img in coco['images']}
    anns = coco['annotations']
    unknown = [a.get('image_id') for a in anns if a.get('image_id') not in files]
    if unknown:
        raise PretrainAnnotationError(f'{kind}: {ann_file}: {len(unknown)} annotations refer '
                                      f'to image ids not in images[] (first: {unknown[0]!r})')
    n = len(anns)
    boxes = np.zeros((n, 2, 4))  # (annotation, left/right, xywh)
    valid = np.zeros((n, 2), bool)
    for i, a in enumerate(anns):
        for s, side in enumerate(('left', 'right')):
            box = a.get(f'{side}hand_box')
            if box is not None and len(box) == 4:
                boxes[i, s] = box
                valid[i, s] = bool(a.get(f'{side}hand_valid', False))
    boxes[..., 2:] += boxes[..., :2]  # xywh -> xyxy
    valid &= (boxes[..., 2] > boxes[..., 0]) & (boxes[..., 3] > boxes[..., 1])
    ann_idx, side_idx = np.nonzero(valid)  # row-major: annotation order, left first
    paths = [osp.join(img_dir, files[anns[i]['image_id']]) for i in ann_idx]
    return HandBoxes(kind, dict(ann_file=ann_file, img_dir=img_dir), paths,
                     boxes[ann_idx, side_idx], side_idx == 0)


def read_freihand(root, versions=FREIHAND_VERSIONS):
    kind = 'freihand'
    unknown = set(versions) - set(FREIHAND_VERSIONS)
    if unknown:
        raise ValueError(f'unknown FreiHAND versions {sorted(unknown)}; choose from '
                         f'{FREIHAND_VERSIONS}')
    _need_dir(kind, root, 'folder')
    rgb = osp.join(root, 'training', 'rgb')
    _need_dir(kind, rgb, 'training image folder')
    names = sorted(e.name for e in os.scandir(rgb) if e.name.lower().endswith('.jpg'))
    if not names:
        raise _error(kind, f'{rgb} holds no .jpg images')
    try:
        ids = np.array([int(osp.splitext(n)[0]) for n in names])
    except ValueError:
        bad = next(n for n in names if not osp.splitext(n)[0].isdigit())
        raise _error(kind, f'{rgb} has an image not named %08d.jpg: {bad!r}') from None
    sel = np.ones(len(ids), bool)
    versions = [v for v in FREIHAND_VERSIONS if v in versions]
    if len(versions) < len(FREIHAND_VERSIONS):
        if len(ids) % len(FREIHAND_VERSIONS) or ids.max() != len(ids) - 1:
            raise _error(kind, f'{rgb} has {len(ids)} images numbered {ids.min()}..'
                         f'{ids.max()}; selecting renderings {versions} needs all 4 x N images '
                         '(image k is rendering k // N)')
        per_version = len(ids) // len(FREIHAND_VERSIONS)
        sel = np.isin(ids // per_version, [FREIHAND_VERSIONS.index(v) for v in versions])
    paths = [osp.join(rgb, n) for n, k in zip(names, sel) if k]
    n = len(paths)
    return HandBoxes(kind, dict(root=root, versions=list(versions)), paths,
                     np.full((n, 4), np.nan), np.zeros(n, bool))


def _ho3d_version(root):
    """'v2' (png) or 'v3' (jpg), from the first frame of train.txt."""
    list_file = osp.join(root, 'train.txt')
    _need_file('ho3d', list_file, 'list file')
    with open(list_file) as f:
        first = next((ln.strip() for ln in f if ln.strip()), None)
    if first is None or first.count('/') != 1:
        raise _error('ho3d', f'{list_file} is empty or its first line is not <SEQ>/<frame>')
    seq, frame = first.split('/')
    for version, ext in (('v2', '.png'), ('v3', '.jpg')):
        if osp.isfile(osp.join(root, 'train', seq, 'rgb', frame + ext)):
            return version
    raise _error('ho3d', f'no image for the first frame {first!r} of train.txt '
                 f'(looked for {osp.join(root, "train", seq, "rgb", frame)}.png and .jpg)')


def read_ho3d(root, version='auto', cache_dir=None):
    """Train split; the box of the projected ground-truth joints (right hands)."""
    from .ho3d import HO3DMeshDataset
    _need_dir('ho3d', root, 'folder')
    if version == 'auto':
        version = _ho3d_version(root)
    ds = HO3DMeshDataset(data_root=root, split='train', version=version, cache_dir=cache_dir,
                         serialize_data=False)
    n = len(ds)
    paths, boxes = [None] * n, np.empty((n, 4))
    for i in range(n):
        info = ds.get_data_info(i)
        paths[i], boxes[i] = info['img_path'], info['bbox'][0]
    return HandBoxes('ho3d', dict(root=root, version=version), paths, boxes,
                     np.zeros(n, bool))


def read_youtube3d(ann_file, img_dir):
    kind = 'youtube3d'
    _need_file(kind, ann_file, 'annotation file')
    _need_dir(kind, img_dir, 'image folder')

    def reduce(d):  # the 778 x 3 vertices become their box while parsing (bounded memory)
        if 'vertices' in d:
            v = np.asarray(d.pop('vertices'), np.float64)
            if v.ndim != 2 or v.shape[1] < 2 or not len(v):
                d['box'] = None
            else:
                d['box'] = np.concatenate([v[:, :2].min(0), v[:, :2].max(0)])
        return d

    data = _load_json(kind, ann_file, reduce)
    _need_keys(kind, ann_file, data, ('images', 'annotations'))
    names = {img['id']: img.get('name', img.get('file_name')) for img in data['images']}
    anns = data['annotations']
    bad = [i for i, a in enumerate(anns) if a.get('box') is None
           or a.get('image_id') not in names or names[a.get('image_id')] is None]
    if bad:
        a = anns[bad[0]]
        raise PretrainAnnotationError(
            f'{kind}: {ann_file}: {len(bad)} annotations without vertices or with an unknown '
            f'image_id (first: annotation {bad[0]}, image_id {a.get("image_id")!r})')
    paths = [osp.join(img_dir, names[a['image_id']]) for a in anns]
    boxes = np.stack([a['box'] for a in anns]) if anns else np.zeros((0, 4))
    left = np.array([bool(a.get('is_left', 0)) for a in anns], bool)
    return HandBoxes(kind, dict(ann_file=ann_file, img_dir=img_dir), paths, boxes, left)


def read_image_list(list_file, img_dir=None):
    from .unlabeled_hands import read_hand_list
    kind = 'image-list'
    _need_file(kind, list_file, 'list file')
    img_dir = osp.dirname(osp.abspath(list_file)) if img_dir is None else img_dir
    _need_dir(kind, img_dir, 'image folder')
    entries, bad = read_hand_list(list_file)
    paths = [osp.join(img_dir, path) for _, path, _, _ in entries]
    boxes = [box if box is not None else [np.nan] * 4 for _, _, box, _ in entries]
    left = [side == 'left' for _, _, _, side in entries]
    if bad:
        raise PretrainAnnotationError(f'{kind}: {len(bad)} bad lines in {list_file}: '
                                      + '; '.join(bad[:5]) + f'. Expected: {EXPECTED[kind]}')
    return HandBoxes(kind, dict(list_file=list_file, img_dir=img_dir), paths, boxes, left)


def read_source(kind, *args, **kwargs) -> HandBoxes:
    readers = {'coco-wholebody': read_coco_wholebody, 'freihand': read_freihand,
               'ho3d': read_ho3d, 'youtube3d': read_youtube3d, 'image-list': read_image_list}
    return readers[kind](*args, **kwargs)


__all__ = ['SOURCE_KINDS', 'FREIHAND_VERSIONS', 'HandBoxes', 'PretrainAnnotationError',
           'PretrainSourceError',
           'crop_square', 'find_missing', 'read_coco_wholebody', 'read_freihand', 'read_ho3d',
           'read_image_list', 'read_source', 'read_youtube3d', 'small_boxes',
           'square_crop_windows', 'whole_image_window']
