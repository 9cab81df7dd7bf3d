"""HandMIM multi-view augmentation: views with exact geometry and per-view patch masks.

mmpretrain's ``MultiView`` keeps only the image of each view; HandMIM needs each view's
geometric transform (pose alignment, eq. 4) and its mask (eq. 7, 9), so this transform
produces all three. Crop and rotation are one affine warp from the source (see
``view_geometry`` for the convention), so the stored geometry is exactly the applied one.
Photometric augmentation follows iBOT/DINO (``view_photometric_params``). With
``device_augment=True`` the transform only draws the random parameters (the same draws in the
same order) and the data preprocessor warps and colours the views on the model's device.
"""
import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ...structures import make_view_affine, view_cv2_matrix
from ...utils.errors import ConfigError
from .view_masks import PatchMaskGenerator
from .view_photometric_params import (BORDER_MODE_CODES, JITTER_OPS, apply_photometric,
                                      encode_photometric, sample_photometric)

_INTERP = dict(bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC, nearest=cv2.INTER_NEAREST)
# what fills the parts of a rotated view that lie outside the source crop
_BORDERS = dict(constant=cv2.BORDER_CONSTANT, reflect=cv2.BORDER_REFLECT_101,
                replicate=cv2.BORDER_REPLICATE)


@TRANSFORMS.register_module()
class HandMultiView(BaseTransform):
    """Make ``num_views`` global views (and optional local views) of ``results['img']``.

    Each view: random resized crop and in-plane rotation as one affine warp, colour jitter,
    grayscale, gaussian blur, solarisation (per-view probabilities of iBOT: blur 1.0 / 0.1 /
    0.5 local, solarisation 0 / 0.2 / 0 local). No flip: it would change handedness.

    Added keys: ``img`` (list of views, global first, HxWx3 uint8), ``mask`` (bool tensor
    ``(num_views, h, w)``, global views only, True = masked), ``view_geometry`` (float32 tensor
    ``(num_views + num_local_views, 2, 3)``, normalised source -> view affine), ``img_shape``.
    Pack with ``PackInputs(algorithm_keys=['view_geometry'])`` (``mask`` is packed by default).

    ``border_mode``: what fills view pixels outside the source, ``'constant'``
    (``border_value``), ``'reflect'`` or ``'replicate'`` (see the method docs for the choice).

    ``device_augment=True``: draw everything exactly as above (same generator, same order)
    but change no pixel; the views are cut and coloured after collation on the model's device
    by ``HandViewDataPreprocessor``. Then ``img`` is ``[source]`` (the HxWx3 uint8 input; the
    sources of a batch must share their size, as ``LoadHandCrop(out_size=...)`` makes them)
    and two keys are added: ``view_photometric`` (float64 ``(V, P)``, one row of drawn
    parameters and warp settings per view, columns ``PHOTOMETRIC_FIELDS``) and ``view_sizes``
    (int64 ``(V,)``). Pack with ``PackInputs(algorithm_keys=['view_geometry',
    'view_photometric', 'view_sizes'])``. ``border_mode='reflect'`` has no device version.

    Random parameters come from a generator made per call from numpy's global state, which
    mmengine seeds per dataloader worker and rank; ``seed`` fixes one generator for tests.
    """

    def __init__(self,
                 num_views=2,
                 view_size=224,
                 crop_scale=(0.08, 1.0),
                 crop_ratio=(3 / 4, 4 / 3),
                 rotation=(0., 150.),
                 random_rotation_sign=True,
                 num_local_views=0,
                 local_view_size=96,
                 local_crop_scale=(0.05, 0.4),
                 color_jitter=dict(brightness=0.4, contrast=0.4, saturation=0.2, hue=0.1),
                 color_jitter_prob=0.8,
                 grayscale_prob=0.2,
                 blur_prob=(1.0, 0.1),
                 local_blur_prob=0.5,
                 blur_sigma=(0.1, 2.0),
                 solarize_prob=(0.0, 0.2),
                 local_solarize_prob=0.0,
                 patch_size=16,
                 mask_ratio=(0.1, 0.5),
                 mask_prob=0.5,
                 mask_shape='block',
                 mask_min_block=None,
                 mask_aspect=(0.3, 1 / 0.3),
                 interpolation='bicubic',
                 border_value=0,
                 border_mode='constant',
                 device_augment=False,
                 seed=None):
        if view_size % patch_size:
            raise ValueError(f'view_size {view_size} is not a multiple of patch {patch_size}')
        self.num_views, self.view_size = num_views, view_size
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.rotation, self.random_rotation_sign = tuple(rotation), random_rotation_sign
        self.num_local_views, self.local_view_size = num_local_views, local_view_size
        self.local_crop_scale = tuple(local_crop_scale)
        unknown = sorted(set(color_jitter) - set(JITTER_OPS))
        if unknown:
            raise ConfigError(f'HandMultiView color_jitter: unknown keys {unknown}; use '
                              f'some of {list(JITTER_OPS)} (0 or absent turns an op off)')
        if blur_sigma[0] <= 0:
            raise ConfigError(f'HandMultiView blur_sigma: the range must start above 0, got '
                              f'{tuple(blur_sigma)}; set blur_prob to 0 to turn blur off')
        self.color_jitter, self.color_jitter_prob = dict(color_jitter), color_jitter_prob
        self.grayscale_prob, self.blur_sigma = grayscale_prob, tuple(blur_sigma)
        # per global view probabilities; views beyond the list reuse its last entry
        self.blur_prob, self.local_blur_prob = tuple(blur_prob), local_blur_prob
        self.solarize_prob, self.local_solarize_prob = tuple(solarize_prob), local_solarize_prob
        grid = view_size // patch_size
        self.mask_generator = PatchMaskGenerator((grid, grid), mask_ratio, mask_prob,
                                                 mask_shape, mask_min_block, mask_aspect)
        self.interpolation, self.interpolation_name = _INTERP[interpolation], interpolation
        if border_mode not in _BORDERS:
            raise ValueError(f'border_mode must be one of {sorted(_BORDERS)}, got '
                             f'{border_mode!r}')
        if device_augment and border_mode not in BORDER_MODE_CODES:
            raise ConfigError(f'HandMultiView border_mode={border_mode!r} has no device '
                              f'version: with device_augment=True use one of '
                              f'{sorted(BORDER_MODE_CODES)}, or set device_augment=False')
        self.border_value, self.border_mode = border_value, border_mode
        self.device_augment = device_augment
        self._fixed_rng = None if seed is None else np.random.default_rng(seed)

    def _rng(self):
        if self._fixed_rng is not None:
            return self._fixed_rng
        return np.random.default_rng(np.random.randint(0, 2**31, size=4))

    # --- geometry ---------------------------------------------------------------------------
    def sample_geometry(self, rng, width, height, scale):
        """A random resized crop (torchvision's sampler, continuous) and rotation as an affine."""
        area = width * height
        log_ratio = np.log(self.crop_ratio)
        for _ in range(10):
            target = area * rng.uniform(*scale)
            ratio = np.exp(rng.uniform(*log_ratio))
            cw, ch = np.sqrt(target * ratio), np.sqrt(target / ratio)
            if cw <= width and ch <= height:
                left, top = rng.uniform(0, width - cw), rng.uniform(0, height - ch)
                break
        else:  # torchvision's fallback: the largest centred crop within the ratio range
            ratio = np.clip(width / height, *self.crop_ratio)
            cw, ch = min(width, height * ratio), min(height, width / ratio)
            left, top = (width - cw) / 2, (height - ch) / 2
        center = (2 * (left + cw / 2) / width - 1, 2 * (top + ch / 2) / height - 1)
        angle = rng.uniform(*self.rotation)
        if self.random_rotation_sign and rng.random() < 0.5:
            angle = -angle
        return make_view_affine(center, (width / cw, height / ch), angle)

    def warp(self, img, affine, size):
        matrix = view_cv2_matrix(affine, (img.shape[1], img.shape[0]), (size, size))
        return cv2.warpAffine(img, matrix, (size, size), flags=self.interpolation,
                              borderMode=_BORDERS[self.border_mode],
                              # a scalar would fill only the first channel (OpenCV reads
                              # v as (v, 0, 0)): grey in every channel, as the device path
                              borderValue=(self.border_value, ) * 3)

    # --- photometry -------------------------------------------------------------------------
    def sample_photometric(self, rng, blur_prob, solarize_prob):
        return sample_photometric(rng, self.color_jitter, self.color_jitter_prob,
                                  self.grayscale_prob, blur_prob, self.blur_sigma,
                                  solarize_prob)

    def photometric(self, img, rng, blur_prob, solarize_prob):
        return apply_photometric(img, self.sample_photometric(rng, blur_prob, solarize_prob))

    def _view_specs(self):
        """(size, crop scale, blur prob, solarize prob, masked) of each view, in order."""
        for i in range(self.num_views):
            yield (self.view_size, self.crop_scale,
                   self.blur_prob[min(i, len(self.blur_prob) - 1)],
                   self.solarize_prob[min(i, len(self.solarize_prob) - 1)], True)
        for _ in range(self.num_local_views):
            yield (self.local_view_size, self.local_crop_scale, self.local_blur_prob,
                   self.local_solarize_prob, False)

    def transform(self, results):
        img = results['img']
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        rng = self._rng()
        height, width = img.shape[:2]
        views, geometry, masks, photometric = [], [], [], []
        # per view: geometry, then the photometric draws, then the mask (one fixed order, so a
        # seed gives the same parameters with and without device_augment)
        for size, scale, blur, solarize, masked in self._view_specs():
            affine = self.sample_geometry(rng, width, height, scale)
            params = self.sample_photometric(rng, blur, solarize)
            if self.device_augment:
                photometric.append(encode_photometric(params, self.border_value,
                                                      self.interpolation_name,
                                                      self.border_mode))
            else:
                views.append(apply_photometric(self.warp(img, affine, size), params))
            geometry.append(affine)
            if masked:
                masks.append(self.mask_generator(rng))
        if self.device_augment:
            views = [img]
            results['view_photometric'] = torch.from_numpy(np.stack(photometric))
            results['view_sizes'] = torch.tensor([spec[0] for spec in self._view_specs()])
        results['img'] = views
        results['img_shape'] = (self.view_size, self.view_size)
        results['mask'] = torch.from_numpy(np.stack(masks))
        results['view_geometry'] = torch.from_numpy(np.stack(geometry).astype(np.float32))
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_views={self.num_views}, '
                f'view_size={self.view_size}, crop_scale={self.crop_scale}, '
                f'rotation={self.rotation}, num_local_views={self.num_local_views}, '
                f'device_augment={self.device_augment}, '
                f'mask_generator={vars(self.mask_generator)})')
