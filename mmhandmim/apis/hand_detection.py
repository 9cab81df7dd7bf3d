"""Hand detection with MediaPipe Hands: an image -> hand boxes, sides and 21 landmarks.

The boxes feed :func:`~mmhandmim.apis.inference.inference_mesh_model` (``bboxes=``,
``hand_sides=``) and the crop makers. MediaPipe is optional (``make install-detect``); it is
imported only when a :class:`HandDetector` is built.

Conventions of what is returned:

* **Pixels** are continuous (pixel ``i`` spans ``[i, i + 1)``), as everywhere in the package:
  MediaPipe's landmarks are normalised to the image, so ``x * W, y * H`` are these pixels.
* ``bbox`` is the **tight** box of the 21 landmarks, not padded: what the datasets store and
  ``inference_mesh_model(bboxes=...)`` takes; the mesh pipeline pads it itself
  (``GetBBoxCenterScale``). :meth:`DetectedHand.crop_box` gives the padded square window for
  making crops (the ``LoadHandCrop`` rule, padding 1.25). The box is not clipped to the image:
  a hand at the border has landmarks outside it, and the crops pad.
* ``side`` is the side of the hand in the image as given (a normal, non-mirrored photo).
  MediaPipe assumes a mirrored selfie image, so its label ``'Left'`` is our ``'right'``.
* ``landmarks`` are in MediaPipe's hand-landmark order, which is exactly the package's
  ``'freihand'`` order (:data:`mmhandmim.hand_model.keypoints.FREIHAND_NAMES`): 0 wrist, then
  thumb CMC, MCP, IP, tip, then index, middle, ring, pinky MCP, PIP, DIP, tip. No conversion
  is needed; for the 'ho3d' order use ``convert_keypoints(lm, 'freihand', 'ho3d')``.
"""
import os
from dataclasses import dataclass
from typing import List, Union

import numpy as np

from ..utils.errors import UserInputError
from .checks import InferenceInputError, load_image

#: how to install the optional detector (the lead's Makefile target and requirements file)
INSTALL_HINT = 'make install-detect (or: pip install --no-deps -r requirements/detect.txt)'
#: MediaPipe's handedness label (mirrored selfie convention) -> the side in the image as given
SIDE_FROM_MEDIAPIPE = {'Left': 'right', 'Right': 'left'}


class DetectorMissingError(UserInputError, ImportError):
    """The optional hand detector (MediaPipe) is not installed."""


@dataclass
class DetectedHand:
    """One detected hand, in the pixels of the image given to the detector.

    Attributes:
        bbox (np.ndarray): (4,) float64 ``x1, y1, x2, y2``, the tight box of ``landmarks``.
        side (str): 'right' or 'left' in the image as given (not mirrored).
        side_score (float): MediaPipe's confidence in ``side``, in [0.5, 1].
        landmarks (np.ndarray): (21, 2) float32 pixels, 'freihand' order.
    """

    bbox: np.ndarray
    side: str
    side_score: float
    landmarks: np.ndarray

    @property
    def score(self) -> float:
        """The hand's score: its handedness confidence, the only per-hand score MediaPipe
        returns (its palm-detection and hand-presence scores are thresholded inside it,
        ``min_detection``)."""
        return self.side_score

    def crop_box(self, padding: float = 1.25, square: bool = True) -> np.ndarray:
        """The crop window around the hand, as the package makes crops.

        Args:
            padding (float): window side / box side (``GetBBoxCenterScale``'s padding; the
                package's crops use 1.25).
            square (bool): a square of the longer box side times ``padding`` (the
                ``LoadHandCrop`` rule); False: each side times ``padding``.

        Returns:
            np.ndarray: (4,) float64 xyxy window, centred on the box (may leave the image).
        """
        if not padding > 0:
            raise InferenceInputError(f'crop padding must be > 0, got {padding!r}')
        centre = (self.bbox[:2] + self.bbox[2:]) / 2
        size = self.bbox[2:] - self.bbox[:2]
        half = (size.max() if square else size) * padding / 2
        return np.concatenate([centre - half, centre + half])


def _import_mediapipe_hands():
    try:
        # the package first: a submodule already imported is found even when the package
        # is blocked (``sys.modules['mediapipe'] = None``)
        import mediapipe  # noqa: F401
        from mediapipe.python.solutions import hands
    except ImportError:
        raise DetectorMissingError(
            f'the hand detector needs MediaPipe, which is not installed: {INSTALL_HINT}'
        ) from None
    return hands


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool)


def _check_setting(name, value, ok, expected):
    if not ok:
        raise InferenceInputError(f'HandDetector {name} must be {expected}, got {value!r}')


class HandDetector:
    """MediaPipe Hands on single images; reusable over many images, closes its graph.

    Args:
        min_score (float): hands whose :attr:`DetectedHand.score` (handedness confidence,
            always >= 0.5) is below it are dropped; 0.5 keeps all.
        max_hands (int): at most this many hands per image.
        padding (float): default padding of :meth:`crop_boxes`.
        model_complexity (int): MediaPipe's landmark model, 0 (lite) or 1 (full).
        min_detection (float): MediaPipe's own palm-detection and hand-presence thresholds
            (its ``min_detection_confidence`` / ``min_tracking_confidence``); these scores
            are not returned, only hands above both.

    Raises:
        DetectorMissingError: MediaPipe is not installed (the message says how to install it).
        InferenceInputError: a setting out of range.

    Example:
        >>> with HandDetector() as detect:
        ...     hands = detect('hand.jpg')
        >>> inference_mesh_model(model, 'hand.jpg', bboxes=[h.bbox for h in hands],
        ...                      hand_sides=[h.side for h in hands])
    """

    def __init__(self, min_score: float = 0.5, max_hands: int = 4, padding: float = 1.25,
                 model_complexity: int = 1, min_detection: float = 0.5):
        for name, value in (('min_score', min_score), ('min_detection', min_detection)):
            _check_setting(name, value, _is_number(value) and 0 <= value <= 1, 'in [0, 1]')
        _check_setting('max_hands', max_hands, isinstance(max_hands, int) and max_hands >= 1,
                       'an int >= 1')
        _check_setting('padding', padding, _is_number(padding) and padding > 0, '> 0')
        _check_setting('model_complexity', model_complexity, model_complexity in (0, 1),
                       '0 or 1')
        self.min_score, self.max_hands, self.padding = float(min_score), max_hands, padding
        hands = _import_mediapipe_hands()
        # static_image_mode: every image is detected afresh (no tracking between calls)
        self._hands = hands.Hands(static_image_mode=True, max_num_hands=max_hands,
                                  model_complexity=model_complexity,
                                  min_detection_confidence=float(min_detection),
                                  min_tracking_confidence=float(min_detection))

    def __enter__(self) -> 'HandDetector':
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release MediaPipe's graph (idempotent)."""
        if self._hands is not None:
            self._hands.close()
            self._hands = None

    def __call__(self, img: Union[str, os.PathLike, np.ndarray]) -> List[DetectedHand]:
        """Detect the hands in one image.

        Args:
            img (str or os.PathLike or np.ndarray): image path or (H, W, 3) BGR uint8 array.

        Returns:
            List[DetectedHand]: the hands scoring at least ``min_score``, highest score
            first (empty if none).

        Raises:
            FileNotFoundError: the path is not a file.
            InferenceInputError: the file cannot be decoded, the array is not (H, W, 3)
                uint8, or the detector was closed.
        """
        image, _ = load_image(img)
        if self._hands is None:
            raise InferenceInputError('this HandDetector is closed: build a new one')
        rgb = np.ascontiguousarray(image[..., ::-1])
        result = self._hands.process(rgb)
        H, W = image.shape[:2]
        found = zip(result.multi_hand_landmarks or [], result.multi_handedness or [])
        detected = [_to_hand(lm, hd, W, H) for lm, hd in found]
        return sorted((h for h in detected if h.score >= self.min_score),
                      key=lambda h: -h.score)

    def crop_boxes(self, hands: List[DetectedHand]) -> np.ndarray:
        """(N, 4) square crop windows of ``hands`` with this detector's ``padding``."""
        return np.array([h.crop_box(self.padding) for h in hands]).reshape(-1, 4)


def _to_hand(landmark_list, handedness, W: int, H: int) -> DetectedHand:
    xy = np.array([(p.x, p.y) for p in landmark_list.landmark], np.float64) * (W, H)
    top = handedness.classification[0]
    return DetectedHand(bbox=np.concatenate([xy.min(0), xy.max(0)]),
                        side=SIDE_FROM_MEDIAPIPE[top.label], side_score=float(top.score),
                        landmarks=xy.astype(np.float32))


def detect_hands(img: Union[str, os.PathLike, np.ndarray], **kwargs) -> List[DetectedHand]:
    """One-shot :class:`HandDetector` (``kwargs``) on one image; build one for many images.

    Returns:
        List[DetectedHand]: the hands, highest score first.
    """
    with HandDetector(**kwargs) as detector:
        return detector(img)
