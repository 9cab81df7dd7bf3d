"""Unlabeled hand images for HandMIM pre-training, and the transform that loads a hand crop.

Three sources (pick with ``ann_file``):

* ``ann_file=''``: every image under ``data_prefix['img_path']`` (recursive), whole image.
* ``*.txt``/``*.list``: one sample per line, ``path [x0 y0 x1 y1] [l|r]`` (path relative to
  ``data_prefix['img_path']``, box in pixels, ``l`` = left hand, flipped to a right hand; a
  path with spaces in double quotes; see ``hand_lists``). A bad line (NaN, empty or negative
  box, wrong number of fields, unquoted spaces) refuses the list, naming the file and lines.
* ``*.json``: COCO-WholeBody; each ``lefthand_box``/``righthand_box`` (COCO ``x, y, w, h``)
  whose ``*_valid`` flag is true, that is at least ``min_box_size`` px and not outside its
  image (``images[].width/height``) is one sample; the others are counted and logged.

A box partly outside its image gives a zero-padded crop; one entirely outside it is dropped:
at load when the image size is known (COCO json, ``image_size``), else when the sample is
loaded (an error naming the image, or with ``skip_bad_images`` a counted replacement, as for
unreadable images). Problems with the root (missing folder or file, no images) are raised
together at construction, as one :class:`UnlabeledDataError` line.
"""
import logging
import os
import os.path as osp

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import BaseDataset
from mmengine.fileio import get
from mmengine.logging import MMLogger, print_log
from mmpretrain.registry import DATASETS, TRANSFORMS

from ..utils.errors import UserInputError
from ..utils.worker_threads import limit_threads_in_worker
from .hand_boxes import DEFAULT_MIN_BOX, HandBoxes, outside_image, read_image_size
from .hand_lists import bad_lines_error, read_hand_list
from .pretrain_source_readers import read_coco_wholebody

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


class UnlabeledDataError(UserInputError, ValueError):
    """An unusable root, list or setting of ``UnlabeledHandDataset`` (one line)."""


class BoxOutsideImageError(ImageLoadError):
    """A hand box with no part inside its image (the crop would be all zeros)."""


def _image_size_setting(image_size):
    if image_size is None:
        return None
    size = (image_size, image_size) if np.isscalar(image_size) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(v, (int, np.integer)) and v > 0 for v in size):
        raise UnlabeledDataError(f'UnlabeledHandDataset: image_size={image_size!r}; expected '
                                 'None, a positive int or (width, height) in pixels')
    return size


def _log_drops(hb: HandBoxes, source: str) -> None:
    """One line: the hands kept and dropped per reason (a warning beyond the filters)."""
    if hb.dropped:
        filters_only = set(hb.dropped) <= {'invalid flag', 'too small'}
        print_log(f'UnlabeledHandDataset: {source}: kept {len(hb)} of {hb.hands} hands; '
                  'dropped ' + ', '.join(f'{n} ({r}, first: {hb.examples[r]})'
                                         for r, n in hb.dropped.items()),
                  logger='current', level=logging.INFO if filters_only else logging.WARNING)


@DATASETS.register_module()
class UnlabeledHandDataset(BaseDataset):
    """Args:
        ann_file (str): '' (folder), a list file or a COCO-WholeBody json (see module doc).
        data_root (str), data_prefix (dict(img_path=...)): as in mmengine's ``BaseDataset``.
        min_box_size (float): smallest shorter box side (px) kept from COCO-WholeBody
            (default 16, as ``make_pretrain_crops.py --min-box``; the reason is in
            ``hand_boxes``).
        image_size (int | (int, int), optional): the size (width, height) of every image,
            for stored crops of one size (``make_pretrain_crops.py --size``, 256 by default).
            Checked once at load against the first image (refused if it differs); list boxes
            entirely outside it are then dropped at load (counted, logged). None: no check.
        skip_bad_images (bool): False (default): an unreadable (missing, corrupt) image, or a
            box entirely outside its image, raises :class:`ImageLoadError` naming its path.
            True: the sample is replaced by the next readable one (index ``idx + 1``,
            ``idx + 2``, ... wrapping around, so the replacement is deterministic, in
            training and testing alike); each replacement is counted in ``num_bad_images``
            and the path kept in ``bad_image_paths`` (per process: each dataloader worker
            counts its own), and a warning with the path and the running counts is logged
            the first time a path fails.
        Other arguments are those of ``BaseDataset``.
    """

    def __init__(self, ann_file='', data_root='', data_prefix=dict(img_path=''),
                 min_box_size=DEFAULT_MIN_BOX, image_size=None, skip_bad_images=False,
                 pipeline=(), **kwargs):
        # build with mmpretrain's registry, whatever the default scope (as mmpretrain does)
        pipeline = [TRANSFORMS.build(t) if isinstance(t, dict) else t for t in pipeline]
        self.min_box_size = min_box_size
        self.image_size = _image_size_setting(image_size)
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
            raise UnlabeledDataError(f'{type(self).__name__}: ' + '; '.join(errors))
        if self.image_size is not None:
            data_list = self._check_image_size(data_list)
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
        if bad:
            raise bad_lines_error(self.ann_file, bad, prefix=f'{type(self).__name__}: ')
        data_list = [dict(img_path=osp.join(img_dir, path), bbox=box, hand_side=side,
                          list_line=num) for num, path, box, side in entries]
        if not data_list:
            errors.append(f'list file {self.ann_file} has no samples')
        return data_list

    def _from_coco_wholebody(self, img_dir, errors):
        hb = read_coco_wholebody(self.ann_file, img_dir)
        # the same rule as make_pretrain_crops.py; zero-size boxes were dropped already
        hb.drop(np.minimum(hb.boxes[:, 2] - hb.boxes[:, 0], hb.boxes[:, 3] - hb.boxes[:, 1])
                < self.min_box_size, 'too small')
        _log_drops(hb, self.ann_file)
        if not len(hb):
            errors.append(f'{self.ann_file} has no valid hand boxes of at least '
                          f'{self.min_box_size} px (min_box_size)')
        return [dict(img_path=p, bbox=b.tolist(), hand_side='left' if left else 'right')
                for p, b, left in zip(hb.img_paths, hb.boxes, hb.left)]

    def _check_image_size(self, data_list):
        """The first image has ``image_size`` (else refuse); drop boxes outside it."""
        if not data_list:
            return data_list
        first = data_list[0]['img_path']
        real = read_image_size(first)
        if real is not None and tuple(real) != self.image_size:
            w, h = self.image_size
            raise UnlabeledDataError(
                f'{type(self).__name__}: image_size=({w}, {h}) but the first image {first} is '
                f'{real[0]} x {real[1]} px (width x height): set image_size={real[0]} (or '
                f'({real[0]}, {real[1]}), or None) in the dataset config, or regenerate the '
                f'crops at {w} x {h}')
        boxed = [i for i, d in enumerate(data_list) if d['bbox'] is not None]
        if not boxed:
            return data_list
        out = outside_image(np.array([data_list[i]['bbox'] for i in boxed]), *self.image_size)
        if out.any():
            bad = data_list[boxed[int(np.argmax(out))]]
            print_log(f'{type(self).__name__}: dropped {int(out.sum())} of {len(data_list)} '
                      f'samples whose box lies entirely outside the {self.image_size[0]} x '
                      f'{self.image_size[1]} images (image_size); first: {bad["img_path"]} '
                      f'box {bad["bbox"]}' + (f' (line {bad["list_line"]} of {self.ann_file})'
                                              if 'list_line' in bad else ''),
                      logger='current', level=logging.WARNING)
            drop = {boxed[i] for i in np.flatnonzero(out)}
            data_list = [d for i, d in enumerate(data_list) if i not in drop]
        return data_list

    def prepare_data(self, idx):
        limit_threads_in_worker()
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
                    what = ('image with a hand box outside it'
                            if isinstance(exc, BoxOutsideImageError) else 'unreadable image')
                    MMLogger.get_current_instance().warning(
                        f'skipped {what} {exc.path} (sample {j}: {exc.reason}); '
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

    @staticmethod
    def _check_box(results, img):
        box = np.asarray(results['bbox'], np.float64).reshape(-1)
        where = results['img_path'] + (f' (list line {results["list_line"]})'
                                       if 'list_line' in results else '')
        if box.shape != (4, ) or not np.isfinite(box).all():
            raise UserInputError(f'hand box {results["bbox"]!r} of {where} is not 4 finite '
                                 'numbers x0 y0 x1 y1; fix the annotation')
        if outside_image(box, img.shape[1], img.shape[0])[0]:
            raise BoxOutsideImageError(
                results['img_path'], f'hand box {box.round(1).tolist()} of {where} lies '
                f'entirely outside the {img.shape[1]} x {img.shape[0]} image (the crop would '
                'be all zeros); were the boxes made for another image size?')

    def transform(self, results):
        img = self._read(results['img_path'])
        results['ori_shape'] = img.shape[:2]
        if results.get('bbox') is not None:
            self._check_box(results, img)
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
