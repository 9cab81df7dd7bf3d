"""Validation of what users pass to the inference API: one clear error, never a traceback
from deep inside a transform."""
import os
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..utils.errors import UserInputError


class InferenceInputError(UserInputError, ValueError):
    """Bad input to the inference API (a ``ValueError``; the CLI reports it on one line)."""


def load_image(img: Union[str, os.PathLike, np.ndarray]) -> Tuple[np.ndarray, Optional[str]]:
    """Load an image from a path, or check an image array.

    Args:
        img (str or os.PathLike or np.ndarray): image path (decoded with mmcv, as mmpose's
            ``LoadImage``), or an (H, W, 3) BGR uint8 array.

    Returns:
        Tuple[np.ndarray, str, optional]: the (H, W, 3) BGR uint8 image, and its path (None
        for an array).

    Raises:
        FileNotFoundError: the path is not a file.
        InferenceInputError: the file cannot be decoded, or the array is not (H, W, 3) uint8.
    """
    if isinstance(img, (str, os.PathLike)):
        path = os.fspath(img)
        if not os.path.isfile(path):
            raise FileNotFoundError(f'image not found: {path!r}')
        import mmcv
        image = mmcv.imread(path)  # the decoder mmpose's LoadImage uses
        if image is None:
            raise InferenceInputError(f'cannot decode {path!r} as an image')
        return image, path
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3
            and img.shape[2] == 3 and img.shape[0] > 0 and img.shape[1] > 0):
        raise InferenceInputError(
            'img must be an image path or an (H, W, 3) BGR uint8 array, got '
            f'{getattr(img, "dtype", type(img).__name__)} {getattr(img, "shape", "")}'.strip())
    return img, None


#: boxes whose every coordinate is at most this are normalised ([0, 1] of the image size),
#: when the image's shorter side has at least ``NORMALISED_MIN_SIDE`` pixels: a hand box of
#: 1.5 pixels is not one a detector gives, and it put the hand tens of metres away
NORMALISED_MAX, NORMALISED_MIN_SIDE = 1.5, 32
#: a hand box at most this many times the image's longer side: a hand spilling out of the
#: frame has a box a few times the image; far larger boxes crop mostly padding, put the hand
#: a fraction of a millimetre from the camera and its drawing coordinates beyond int32
MAX_BOX_FACTOR = 10.0


class BoxError(InferenceInputError):
    """A hand box that cannot be a pixel box of a hand in this image."""


def _check_box(i, box, W, H):
    x1, y1, x2, y2 = box
    where = f'box {i} [{x1:g}, {y1:g}, {x2:g}, {y2:g}]'
    if not np.isfinite(box).all():
        raise BoxError(f'{where} has non-finite coordinates')
    if x2 <= x1 or y2 <= y1:
        raise BoxError(f'{where} is empty: need x2 > x1 and y2 > y1 (xyxy)')
    if np.abs(box).max() <= NORMALISED_MAX and min(H, W) >= NORMALISED_MIN_SIDE:
        raise BoxError(f'{where} looks normalised (all coordinates <= {NORMALISED_MAX:g} on '
                       f'a {W}x{H} image): boxes are pixels xyxy; multiply by the image size '
                       f'(x by {W}, y by {H})')
    if x2 <= 0 or y2 <= 0 or x1 >= W or y1 >= H:
        raise BoxError(f'{where} is outside the {W}x{H} image')
    if max(x2 - x1, y2 - y1) > MAX_BOX_FACTOR * max(H, W):
        raise BoxError(f'{where} is {x2 - x1:g}x{y2 - y1:g} pixels, more than '
                       f'{MAX_BOX_FACTOR:g} times the {W}x{H} image: boxes are pixels xyxy '
                       'around one hand')


def check_bboxes(bboxes: Optional[Union[np.ndarray, Sequence]],
                 image_shape: Tuple[int, int]) -> np.ndarray:
    """Check boxes: each must be pixels xyxy, of positive size, overlap the image and be
    at most ``MAX_BOX_FACTOR`` times its longer side.

    Boxes partly outside are fine: the crop pads (and drawing clips).

    Args:
        bboxes (np.ndarray or Sequence, optional): (N, 4) (or a single (4,)) ``x1, y1, x2,
            y2`` boxes; None: the whole image.
        image_shape (Tuple[int, int]): ``(H, W)`` of the image.

    Returns:
        np.ndarray: (N, 4) float64 xyxy boxes ((0, 4) for an empty input).

    Raises:
        InferenceInputError: not (N, 4) numbers.
        BoxError: (an InferenceInputError) a box is non-finite, empty (x2 <= x1 or
            y2 <= y1), in normalised coordinates (all <= 1.5 on an image of >= 32 pixels),
            outside the image or far larger than it (the first bad box is named).
    """
    H, W = image_shape
    if bboxes is None:
        return np.array([[0.0, 0.0, W, H]])
    try:
        boxes = np.asarray(bboxes, np.float64)
    except (TypeError, ValueError):
        raise InferenceInputError(f'bboxes must be (N, 4) numbers x1 y1 x2 y2, got '
                                  f'{bboxes!r}') from None
    if boxes.shape == (4, ):
        boxes = boxes[None]
    if boxes.size == 0:
        return boxes.reshape(0, 4)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise InferenceInputError(f'bboxes must have shape (N, 4) (x1, y1, x2, y2 per box), '
                                  f'got {boxes.shape}')
    for i, box in enumerate(boxes):  # a few boxes: name the first bad one
        _check_box(i, box, W, H)
    return boxes


def check_hand_sides(hand_sides: Optional[Union[str, bool, np.bool_, Sequence]],
                     n: int) -> List[str]:
    """Normalise hand side flags to one 'left' / 'right' per box.

    Args:
        hand_sides (str or bool or Sequence, optional): None (all right), one flag for
            every box, or one per box; a flag is 'left' / 'right' (any case) or a bool
            meaning *is left*.
        n (int): number of boxes.

    Returns:
        List[str]: n of 'left' / 'right'.

    Raises:
        InferenceInputError: not one flag per box, or a flag of another kind.
    """
    if hand_sides is None:
        return ['right'] * n
    if isinstance(hand_sides, (str, bool, np.bool_)):
        hand_sides = [hand_sides] * n
    sides = list(hand_sides)
    if len(sides) != n:
        raise InferenceInputError(f'got {len(sides)} hand side flags for {n} boxes: give '
                                  'one per box (or a single one for all)')
    out = []
    for s in sides:
        if isinstance(s, (bool, np.bool_)):
            out.append('left' if s else 'right')
        elif isinstance(s, str) and s.lower() in ('left', 'right'):
            out.append(s.lower())
        else:
            raise InferenceInputError(f"hand side must be 'left', 'right' or a bool (is "
                                      f'left), got {s!r}')
    return out


def check_cam_K(cam_K: Union[np.ndarray, Sequence]) -> np.ndarray:
    """Check pinhole intrinsics.

    Args:
        cam_K (np.ndarray or Sequence): ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``.

    Returns:
        np.ndarray: (3, 3) float64 pinhole intrinsics with positive focal lengths.

    Raises:
        InferenceInputError: not a finite 3x3 matrix of that form with fx, fy > 0.
    """
    K = np.asarray(cam_K, np.float64) if cam_K is not None else None
    if K is None or K.shape != (3, 3) or not np.isfinite(K).all():
        raise InferenceInputError(f'cam_K must be a finite 3x3 matrix, got {cam_K!r}')
    if K[0, 0] <= 0 or K[1, 1] <= 0 or not np.allclose(K[2], [0, 0, 1]) or K[1, 0] != 0:
        raise InferenceInputError(f'cam_K must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] '
                                  f'with fx, fy > 0, got {K.tolist()}')
    return K
