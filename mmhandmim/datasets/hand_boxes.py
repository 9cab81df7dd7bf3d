"""The hands of one pre-training source, the reasons a hand is dropped, and box checks.

Every hand a source offers is either cropped or dropped for one counted reason
(:data:`DROP_REASONS`), so ``hands == written + sum(dropped)`` holds per source in the summary
of ``make_pretrain_crops.py``.

Why the default smallest box is 16 px (:data:`DEFAULT_MIN_BOX`, shorter box side): the crop
is a square of 1.25 x the longer box side, resized to 256 px, from which HandMIM takes 224 px
views cut into 14 x 14 patches of 16 px. A 16 px hand (longer side ~20 px) gives a ~25 px
crop: about 2 source pixels per patch, the last scale where palm and fingers still differ
from patch to patch; a 10 px hand gives ~1 source pixel per patch, i.e. 196 patches
interpolated from a blob. COCO-WholeBody hands are small: the official example file
(``evaluation/example_gt.json``) has 25 valid hands, median shorter side 17 px; 16 px keeps 14
of them, 32 px (the former default) keeps 0 and so drops COCO-WholeBody, one of the paper's
sources, almost entirely; 12 px keeps 24. Lower it (``--min-box``) to keep more of the small
hands, raise it for fewer, sharper crops; the summary prints what it dropped.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

#: shorter box side (px) below which a hand is not cropped (see the module docstring)
DEFAULT_MIN_BOX = 16.
#: why a hand is not cropped, in the order of the summary table
DROP_REASONS = ('invalid flag', 'empty box', 'too small', 'aspect mismatch', 'outside image',
                'missing image', 'unreadable image')
#: largest relative difference of the x and y scale of a resized frame (YouTube's streams
#: round sizes to even pixels: 426 x 240 is 0.2 % off 16:9)
ASPECT_TOLERANCE = 0.02


@dataclass
class HandBoxes:
    """The hands of one source that are still candidates, and those already dropped.

    Attributes:
        kind: the source kind (``'coco-wholebody'``, ...).
        inputs: where they came from (for the summary).
        img_paths: one path per hand.
        boxes: (N, 4) float64 ``x0 y0 x1 y1`` pixels of the image on disk (NaN row = the
            whole image).
        left: (N,) bool, left hands (mirrored when cropped).
        dropped: reason -> number of hands of the source dropped for it already.
        examples: reason -> the first dropped hand, described.
        rescaled: how many of the boxes were scaled to the size of the image on disk.
    """
    kind: str
    inputs: Dict[str, object]
    img_paths: List[str]
    boxes: np.ndarray
    left: np.ndarray
    dropped: Dict[str, int] = field(default_factory=dict)
    examples: Dict[str, str] = field(default_factory=dict)
    rescaled: int = 0

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float64).reshape(-1, 4)
        self.left = np.asarray(self.left, bool).reshape(-1)
        if not len(self.img_paths) == len(self.boxes) == len(self.left):
            raise ValueError('img_paths, boxes and left must have one entry per hand')

    def __len__(self):
        return len(self.img_paths)

    @property
    def whole(self) -> np.ndarray:
        """(N,) bool: rows without a box (the whole image is the crop)."""
        return np.isnan(self.boxes).any(1)

    @property
    def hands(self) -> int:
        """All hands the source offered: candidates + dropped."""
        return len(self) + sum(self.dropped.values())

    def drop(self, mask, reason: str) -> 'HandBoxes':
        """Remove the hands where ``mask`` is true, counting them under ``reason``."""
        return self.drop_coded(np.asarray(mask, bool).astype(np.int64), (reason, ))

    def drop_coded(self, codes, reasons) -> 'HandBoxes':
        """Remove the hands whose ``codes`` entry is k > 0, counted under ``reasons[k - 1]``
        (one reason per hand: the first that applies)."""
        codes = np.asarray(codes).reshape(-1)
        for k, reason in enumerate(reasons, 1):
            mask = codes == k
            if mask.any():
                i = int(np.argmax(mask))
                count_drop(self.dropped, self.examples, reason, int(mask.sum()),
                           describe_hand(self.img_paths[i], self.boxes[i]))
        keep = np.flatnonzero(codes == 0)
        if len(keep) < len(codes):
            self.img_paths = [self.img_paths[k] for k in keep]
            self.boxes, self.left = self.boxes[keep], self.left[keep]
        return self


def first_code(*masks) -> np.ndarray:
    """(N,) int: 1 + the index of the first true mask per hand, 0 where none is."""
    stacked = np.stack([np.asarray(m, bool) for m in masks])
    return np.where(stacked.any(0), stacked.argmax(0) + 1, 0)


def count_drop(dropped: Dict[str, int], examples: Dict[str, str], reason: str, n: int,
               example: str) -> None:
    """Add ``n`` hands dropped for ``reason`` (keeping the first example)."""
    if reason not in DROP_REASONS:
        raise ValueError(f'unknown drop reason {reason!r}')
    if n:
        dropped[reason] = dropped.get(reason, 0) + n
        examples.setdefault(reason, example)


def describe_hand(path: str, box=None) -> str:
    if box is None or np.isnan(box).any():
        return path
    return f'{path} box [{", ".join(f"{v:.1f}" for v in box)}]'


def small_boxes(boxes, min_box: float) -> np.ndarray:
    """(N,) bool: boxes whose shorter side is below ``min_box`` px (whole images never)."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    with np.errstate(invalid='ignore'):
        short = np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        return ~np.isnan(short) & (short < min_box)


def outside_image(boxes, width, height) -> np.ndarray:
    """(N,) bool: boxes with no part inside their ``width`` x ``height`` image (scalars or
    (N,) arrays; NaN sizes and NaN boxes = not outside). A box partly inside is kept: its crop
    is zero-padded beyond the image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    w, h = np.asarray(width, np.float64), np.asarray(height, np.float64)
    with np.errstate(invalid='ignore'):
        return (b[:, 2] <= 0) | (b[:, 3] <= 0) | (b[:, 0] >= w) | (b[:, 1] >= h)


def read_image_size(path: str) -> Optional[Tuple[int, int]]:
    """``(width, height)`` of the image as OpenCV decodes it, from the file's header (no
    decoding); None if unreadable. EXIF orientations 5-8 swap the sides, as OpenCV applies
    them."""
    from PIL import Image, UnidentifiedImageError
    try:
        with Image.open(path) as img:
            w, h = img.size
            rotated = img.format == 'JPEG' and img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    return (h, w) if rotated else (w, h)


def find_missing(paths) -> np.ndarray:
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


__all__ = ['ASPECT_TOLERANCE', 'DEFAULT_MIN_BOX', 'DROP_REASONS', 'HandBoxes', 'count_drop',
           'describe_hand', 'find_missing', 'first_code', 'outside_image', 'read_image_size',
           'small_boxes']
