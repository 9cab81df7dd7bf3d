"""Unlabeled hand images for HandMIM pre-training, and the transform that loads a hand crop.

Three sources (pick with ``ann_file``):

* ``ann_file=''``: every image under ``data_prefix['img_path']`` (recursive), whole image.
* ``*.txt``/``*.list``: one sample per line, ``path [x0 y0 x1 y1] [l|r]`` (path relative to
  ``data_prefix['img_path']``, box in pixels, ``l`` = left hand, flipped to a right hand).
* ``*.json``: COCO-WholeBody; each ``lefthand_box``/``righthand_box`` (COCO ``x, y, w, h``)
  whose ``*_valid`` flag is true (and that is at least ``min_box_size`` px) is one sample.

Problems with the root (missing folder or file, no images, bad list lines) are collected and
raised together at construction.
"""
import json
import os
import os.path as osp

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.fileio import get
from mmengine.logging import MMLogger
from mmpretrain.registry import DATASETS, TRANSFORMS

from ..utils.errors import UserInputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')


class ImageLoadError(UserInputError, IOError):
    """An image file that cannot be read or decoded; ``path`` names it.

    ``ImageLoadError(message)`` (one argument, as torch's DataLoader re-raises a worker's
    exception in the main process) keeps the message and leaves ``path`` None.
    """

    def __init__(self, path, reason=None):
        if reason is None:
            super().__init__(path)
            self.path = self.reason = None
            return
        super().__init__(f'cannot load image {path}: {reason}')
        self.path = path
        self.reason = reason


def _parse_list_line(line):
    """``path [x0 y0 x1 y1] [l|r]`` -> (path, box or None, side or None); raises ValueError."""
    parts = line.split()
    side = None
    if len(parts) in (2, 6) and parts[-1].lower() in ('l', 'r'):
        side = 'left' if parts.pop().lower() == 'l' else 'right'
    if len(parts) == 1:
        return parts[0], None, side
    if len(parts) != 5:
        raise ValueError('expected "path [x0 y0 x1 y1] [l|r]"')
    box = [float(v) for v in parts[1:]]
    if box[2] <= box[0] or box[3] <= box[1]:
        raise ValueError(f'empty box {box}')
    return parts[0], box, side


def read_hand_list(list_file):
    """All entries of a hand list file: ([(line number, path, box, side)], [bad line
    descriptions]); blank lines and ``#`` comments are skipped."""
    entries, bad = [], []
    with open(list_file) as f:
        for num, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith('#'):
                continue
            try:
                entries.append((num, *_parse_list_line(line)))
            except ValueError as exc:
                bad.append(f'line {num} {line.strip()!r}: {exc}')
    return entries, bad


@DATASETS.register_module()
class UnlabeledHandDataset(BaseDataset):
    """Args:
        ann_file (str): '' (folder), a list file or a COCO-WholeBody json (see module doc).
        data_root (str), data_prefix (dict(img_path=...)): as in mmengine's ``BaseDataset``.
        min_box_size (float): smallest hand box side (px) kept from COCO-WholeBody.
        skip_bad_images (bool): False (default): an unreadable (missing, corrupt) image
            raises :class:`ImageLoadError` naming its path. True: the sample is replaced by
            the next readable one (index ``idx + 1``, ``idx + 2``, ... wrapping around, so
            the replacement is deterministic, in training and testing alike); each
            replacement is counted in ``num_bad_images`` and the path kept in
            ``bad_image_paths`` (per process: each dataloader worker counts its own), and a
            warning with the path and the running counts is logged the first time a path
            fails.
        Other arguments are those of ``BaseDataset``.
    """

    def __init__(self, ann_file='', data_root='', data_prefix=dict(img_path=''),
                 min_box_size=0., skip_bad_images=False, pipeline=(), **kwargs):
        # build with mmpretrain's registry, whatever the default scope (as mmpretrain does)
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self.min_box_size = min_box_size
        self.skip_bad_images = skip_bad_images
        self.num_bad_images = 0
        self.bad_image_paths = set()
        super().__init__(ann_file=ann_file, data_root=data_root, data_prefix=data_prefix,
                         pipeline=pipeline, **kwargs)

    def load_data_list(self):
        img_dir = self.data_prefix.get('img_path', '') or self.data_root
        errors = []
        if not self.ann_file:
            data_list = self._from_folder(img_dir, errors)
        elif not osp.isfile(self.ann_file):
            errors.append(f'annotation file {self.ann_file} does not exist')
        elif self.ann_file.endswith('.json'):
            data_list = self._from_coco_wholebody(img_dir, errors)
        else:
            data_list = self._from_list(img_dir, errors)
        if errors:
            raise ValueError(f'{type(self).__name__}: ' + '; '.join(errors))
        return data_list

    def _from_folder(self, img_dir, errors):
        if not osp.isdir(img_dir):
            errors.append(f'image folder {img_dir!r} does not exist')
            return []
        paths = sorted(
            osp.join(root, name) for root, _, names in os.walk(img_dir, followlinks=True)
            for name in names if name.lower().endswith(IMAGE_EXTENSIONS))
        if not paths:
            errors.append(f'image folder {img_dir} holds no images ({", ".join(IMAGE_EXTENSIONS)})')
        return [dict(img_path=p, bbox=None, hand_side=None) for p in paths]

    def _from_list(self, img_dir, errors):
        entries, bad = read_hand_list(self.ann_file)
        data_list = [dict(img_path=osp.join(img_dir, path), bbox=box, hand_side=side)
                     for _, path, box, side in entries]
        if bad:
            errors.append(f'{len(bad)} bad lines in {self.ann_file}: ' + '; '.join(bad[:10]))
        if not data_list and not bad:
            errors.append(f'list file {self.ann_file} has no samples')
        return data_list

    def _from_coco_wholebody(self, img_dir, errors):
        with open(self.ann_file) as f:
            coco = json.load(f)
        if 'images' not in coco or 'annotations' not in coco:
            errors.append(f'{self.ann_file} is not a COCO json (no images/annotations)')
            return []
        files = {img['id']: img['file_name'] for img in coco['images']}
        data_list = []
        for ann in coco['annotations']:
            for side in ('left', 'right'):
                x, y, w, h = ann.get(f'{side}hand_box', (0, 0, 0, 0))
                if ann.get(f'{side}hand_valid') and min(w, h) >= max(self.min_box_size, 1e-6):
                    data_list.append(dict(img_path=osp.join(img_dir, files[ann['image_id']]),
                                          bbox=[x, y, x + w, y + h], hand_side=side))
        if not data_list:
            errors.append(f'{self.ann_file} has no valid hand boxes')
        return data_list

    def prepare_data(self, idx):
        if not self.skip_bad_images:
            return super().prepare_data(idx)
        n = len(self)
        for step in range(min(n, self.max_refetch + 1)):
            j = idx if step == 0 else (idx + step) % n  # (an out-of-range idx still raises)
            try:
                return super().prepare_data(j)
            except ImageLoadError as exc:
                self.num_bad_images += 1
                if exc.path not in self.bad_image_paths:
                    self.bad_image_paths.add(exc.path)
                    MMLogger.get_current_instance().warning(
                        f'skipped unreadable image {exc.path} (sample {j}: {exc.reason}); '
                        f'using sample {(j + 1) % n} instead. {len(self.bad_image_paths)} '
                        f'unreadable image(s), {self.num_bad_images} replacement(s) so far '
                        'in this process')
        raise ImageLoadError(
            self.get_data_info(idx)['img_path'],
            f'it and the next {min(n, self.max_refetch + 1) - 1} samples are all '
            'unreadable; check the data root')


@TRANSFORMS.register_module()
class LoadHandCrop(BaseTransform):
    """Read ``img_path`` (BGR uint8); crop a square around ``bbox`` (side ``padding`` times the
    box's longer side, zero-filled beyond the image); flip left hands to right hands; resize.

    Args:
        padding (float): square crop side / longer box side.
        out_size (int, optional): side of the resized crop; for images without a box, the
            shorter side is resized to it. None keeps the size.
    """

    def __init__(self, padding=1.25, out_size=None):
        self.padding, self.out_size = padding, out_size

    def _read(self, path):
        try:
            img = mmcv.imfrombytes(get(path), flag='color', channel_order='bgr')
        except Exception as exc:  # noqa: BLE001 - any backend/decoder failure
            raise ImageLoadError(path, exc) from exc
        if img is None:
            raise ImageLoadError(path, 'not a decodable image')
        return img

    def _crop(self, img, box):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        side = max(int(round(max(box[2] - box[0], box[3] - box[1]) * self.padding)), 1)
        x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
        out = np.zeros((side, side, 3), dtype=img.dtype)
        sx0, sy0 = max(x0, 0), max(y0, 0)
        sx1, sy1 = min(x0 + side, img.shape[1]), min(y0 + side, img.shape[0])
        if sx1 > sx0 and sy1 > sy0:
            out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = img[sy0:sy1, sx0:sx1]
        return out

    def transform(self, results):
        img = self._read(results['img_path'])
        results['ori_shape'] = img.shape[:2]
        if results.get('bbox') is not None:
            img = self._crop(img, results['bbox'])
            if self.out_size:
                img = cv2.resize(img, (self.out_size, self.out_size), interpolation=cv2.INTER_AREA
                                 if img.shape[0] > self.out_size else cv2.INTER_CUBIC)
        elif self.out_size:
            scale = self.out_size / min(img.shape[:2])
            size = (max(int(round(img.shape[1] * scale)), 1),
                    max(int(round(img.shape[0] * scale)), 1))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else
                             cv2.INTER_CUBIC)
        if results.get('hand_side') == 'left':
            img = np.ascontiguousarray(img[:, ::-1])
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results
