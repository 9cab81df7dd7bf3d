"""Hand boxes from the HandMIM pre-training sources, and the square crop rule.

Used by ``tools/dataset_converters/make_pretrain_crops.py`` (which stays a thin CLI). The
readers (``pretrain_source_readers``) return a :class:`HandBoxes` per source: one row per
hand still to crop, with the image path, the box ``x0 y0 x1 y1`` in pixels of the image on
disk (a NaN row = the whole image) and whether it is a left hand (flipped to a right hand when
cropped), plus the hands already dropped, counted per reason (``hand_boxes.DROP_REASONS``).
This module owns the crop rule shared with ``LoadHandCrop``.
"""
import os
import os.path as osp

import cv2
import numpy as np

from .hand_boxes import (DEFAULT_MIN_BOX, DROP_REASONS, HandBoxes, find_missing,
                         outside_image, small_boxes)
from .hand_lists import bad_lines_error, read_hand_list
from .pretrain_source_readers import (EXPECTED, FREIHAND_VERSIONS, SOURCE_KINDS,
                                      PretrainAnnotationError, PretrainSourceError, need_dir,
                                      need_file, read_coco_wholebody, read_youtube3d,
                                      source_error)


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


# --- FreiHAND, HO3D ------------------------------------------------------------------------
def read_freihand(root, versions=FREIHAND_VERSIONS):
    kind = 'freihand'
    unknown = set(versions) - set(FREIHAND_VERSIONS)
    if unknown:
        raise ValueError(f'unknown FreiHAND versions {sorted(unknown)}; choose from '
                         f'{FREIHAND_VERSIONS}')
    need_dir(kind, root, 'folder')
    rgb = osp.join(root, 'training', 'rgb')
    need_dir(kind, rgb, 'training image folder')
    names = sorted(e.name for e in os.scandir(rgb) if e.name.lower().endswith('.jpg'))
    if not names:
        raise source_error(kind, f'{rgb} holds no .jpg images')
    try:
        ids = np.array([int(osp.splitext(n)[0]) for n in names])
    except ValueError:
        bad = next(n for n in names if not osp.splitext(n)[0].isdigit())
        raise source_error(kind, f'{rgb} has an image not named %08d.jpg: {bad!r}') from None
    sel = np.ones(len(ids), bool)
    versions = [v for v in FREIHAND_VERSIONS if v in versions]
    if len(versions) < len(FREIHAND_VERSIONS):
        if len(ids) % len(FREIHAND_VERSIONS) or ids.max() != len(ids) - 1:
            raise source_error(kind, f'{rgb} has {len(ids)} images numbered {ids.min()}..'
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
    need_file('ho3d', list_file, 'list file')
    with open(list_file) as f:
        first = next((ln.strip() for ln in f if ln.strip()), None)
    if first is None or first.count('/') != 1:
        raise source_error('ho3d', f'{list_file} is empty or its first line is not <SEQ>/<frame>')
    seq, frame = first.split('/')
    for version, ext in (('v2', '.png'), ('v3', '.jpg')):
        if osp.isfile(osp.join(root, 'train', seq, 'rgb', frame + ext)):
            return version
    raise source_error('ho3d', f'no image for the first frame {first!r} of train.txt '
                 f'(looked for {osp.join(root, "train", seq, "rgb", frame)}.png and .jpg)')


def read_ho3d(root, version='auto', cache_dir=None):
    """Train split; the box of the projected ground-truth joints (right hands)."""
    from .ho3d import HO3DMeshDataset
    need_dir('ho3d', root, 'folder')
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


# --- hand lists ----------------------------------------------------------------------------
def read_image_list(list_file, img_dir=None) -> HandBoxes:
    """A hand list (``hand_lists``); any bad line refuses the file, naming the lines."""
    kind = 'image-list'
    need_file(kind, list_file, 'list file')
    img_dir = osp.dirname(osp.abspath(list_file)) if img_dir is None else img_dir
    need_dir(kind, img_dir, 'image folder')
    entries, bad = read_hand_list(list_file)
    if bad:
        raise bad_lines_error(list_file, bad, prefix=f'{kind}: ')
    paths = [osp.join(img_dir, path) for _, path, _, _ in entries]
    boxes = [box if box is not None else [np.nan] * 4 for _, _, box, _ in entries]
    left = [side == 'left' for _, _, _, side in entries]
    return HandBoxes(kind, dict(list_file=list_file, img_dir=img_dir), paths, boxes, left)


def read_source(kind, *args, **kwargs) -> HandBoxes:
    """The reader of ``kind`` (one of :data:`SOURCE_KINDS`) applied to its arguments."""
    readers = {'coco-wholebody': read_coco_wholebody, 'freihand': read_freihand,
               'ho3d': read_ho3d, 'youtube3d': read_youtube3d, 'image-list': read_image_list}
    return readers[kind](*args, **kwargs)


__all__ = ['DEFAULT_MIN_BOX', 'DROP_REASONS', 'EXPECTED', 'FREIHAND_VERSIONS', 'HandBoxes',
           'PretrainAnnotationError', 'PretrainSourceError', 'SOURCE_KINDS', 'crop_square',
           'find_missing', 'outside_image', 'read_coco_wholebody', 'read_freihand',
           'read_ho3d', 'read_image_list', 'read_source', 'read_youtube3d', 'small_boxes',
           'square_crop_windows', 'whole_image_window']
