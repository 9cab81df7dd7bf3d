"""Photometric augmentation of HandMIM views: random parameters, then their application.

iBOT/DINO's recipe (torchvision semantics) on uint8 BGR: colour jitter in a random op order,
grayscale, gaussian blur, solarisation. Sampling is split from applying so that one draw can
feed either the CPU path (``apply_photometric``, numpy/cv2, here) or the device path
(``encode_photometric`` -> ``view_photometric`` rows -> ``models/selfsup/view_augment.py``).
"""
from typing import Dict

import cv2
import numpy as np

#: colour-jitter ops in torchvision's numbering (the ids in ``order``)
JITTER_OPS = ('brightness', 'contrast', 'saturation', 'hue')
#: columns of a ``view_photometric`` row (the one definition; ``models/selfsup/view_augment.py``
#: imports it)
PHOTOMETRIC_FIELDS = ('jitter', 'op0', 'op1', 'op2', 'op3', 'brightness', 'contrast',
                      'saturation', 'hue_shift', 'grayscale', 'blur_sigma', 'solarize',
                      'border_value', 'interpolation', 'border_mode')
#: codes of the ``interpolation`` and ``border_mode`` columns
INTERPOLATION_CODES = dict(nearest=0, bilinear=1, bicubic=2)
BORDER_MODE_CODES = dict(constant=0, replicate=1)


# --- photometric operations on uint8 BGR images (torchvision semantics) ---------------------
def _gray(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _blend(img, other, factor):
    return np.clip(img.astype(np.float32) * factor + np.float32(other) * (1 - factor), 0,
                   255).astype(np.uint8)


_LEVELS = np.arange(256, dtype=np.uint8)[None]


def _blend_scalar(img, other, factor):
    """``_blend`` with a scalar ``other`` as a 256-entry lookup table: the same float32
    arithmetic on every grey level once, then one ``cv2.LUT`` (~10x faster, bit-identical)."""
    return cv2.LUT(img, _blend(_LEVELS, other, factor))


def _shift_hue(img, shift):
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)  # hue spans 0..255
    hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift).astype(np.uint8)  # wraps
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)


_SOLARIZED = {}


def solarize(img, threshold=128):
    if threshold not in _SOLARIZED:  # a lookup table: one cv2.LUT instead of np.where
        _SOLARIZED[threshold] = np.where(_LEVELS >= threshold, 255 - _LEVELS, _LEVELS).astype(
            np.uint8)
    return cv2.LUT(img, _SOLARIZED[threshold])


# --- sampling, applying, encoding -----------------------------------------------------------
def sample_photometric(rng: np.random.Generator, color_jitter: Dict[str, float],
                       color_jitter_prob: float, grayscale_prob: float, blur_prob: float,
                       blur_sigma: tuple, solarize_prob: float) -> dict:
    """Draw one view's photometric parameters, in the order the transform always drew them.

    Args:
        rng (np.random.Generator): the transform's generator.
        color_jitter (dict): strengths of ``JITTER_OPS`` (0 or absent: the op is off).
        color_jitter_prob, grayscale_prob, blur_prob, solarize_prob (float): probabilities.
        blur_sigma (tuple): range of the blur's sigma.

    Returns:
        dict: ``jitter`` (bool), ``order`` (4 op ids in application order, -1 for an op that
        is off), ``brightness``/``contrast``/``saturation`` factors (python floats, exactly
        as drawn), ``hue_shift`` (int, hue levels of 0..255), ``grayscale`` (bool),
        ``blur_sigma`` (0: no blur), ``solarize`` (bool).
    """
    p = dict(jitter=False, order=[-1] * 4, brightness=1.0, contrast=1.0, saturation=1.0,
             hue_shift=0, grayscale=False, blur_sigma=0.0, solarize=False)
    if rng.random() < color_jitter_prob:
        p['jitter'] = True
        for pos, op in enumerate(rng.permutation(4)):
            name = JITTER_OPS[op]
            strength = color_jitter.get(name, 0)
            if strength <= 0:
                continue
            p['order'][pos] = int(op)
            if name == 'hue':
                p['hue_shift'] = int(round(rng.uniform(-strength, strength) * 255))
            else:
                p[name] = rng.uniform(max(0, 1 - strength), 1 + strength)
    p['grayscale'] = bool(rng.random() < grayscale_prob)
    if rng.random() < blur_prob:
        p['blur_sigma'] = rng.uniform(*blur_sigma)
    p['solarize'] = bool(rng.random() < solarize_prob)
    return p


def apply_photometric(img: np.ndarray, p: dict) -> np.ndarray:
    """Apply parameters from ``sample_photometric`` to a uint8 BGR view (numpy/cv2)."""
    if p['jitter']:
        for op in p['order']:
            if op == 0:
                img = _blend_scalar(img, 0, p['brightness'])
            elif op == 1:
                img = _blend_scalar(img, _gray(img).mean(), p['contrast'])
            elif op == 2:
                img = _blend(img, _gray(img)[..., None], p['saturation'])
            elif op == 3:
                img = _shift_hue(img, p['hue_shift'])
    if p['grayscale']:
        img = cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2BGR)
    if p['blur_sigma'] > 0:
        img = cv2.GaussianBlur(img, (0, 0), p['blur_sigma'])
    if p['solarize']:
        img = solarize(img)
    return img


def encode_photometric(p: dict, border_value: float, interpolation: str,
                       border_mode: str) -> np.ndarray:
    """One ``view_photometric`` row (float64: the factors stay exactly as drawn, so the device
    path repeats the CPU path's float32 arithmetic), plus the view's warp settings."""
    row = dict(p, jitter=float(p['jitter']), grayscale=float(p['grayscale']),
               solarize=float(p['solarize']), border_value=border_value,
               interpolation=INTERPOLATION_CODES[interpolation],
               border_mode=BORDER_MODE_CODES[border_mode])
    row.update({f'op{i}': op for i, op in enumerate(p['order'])})
    return np.array([row[name] for name in PHOTOMETRIC_FIELDS], np.float64)
