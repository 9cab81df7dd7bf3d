"""HandMIM multi-view augmentation: views with exact geometry and per-view patch masks.

mmpretrain's ``MultiView`` keeps only the image of each view; HandMIM needs each view's
geometric transform (pose alignment, eq. 4) and its mask (eq. 7, 9), so this transform
produces all three. Crop and rotation are one affine warp from the source (see
``view_geometry`` for the convention), so the stored geometry is exactly the applied one.
Photometric augmentation follows iBOT/DINO (torchvision semantics) on uint8 BGR with numpy/cv2.
"""
import cv2
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmpretrain.registry import TRANSFORMS

from ...structures import make_view_affine, view_cv2_matrix
from .view_masks import PatchMaskGenerator

_INTERP = dict(bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC, nearest=cv2.INTER_NEAREST)
# what fills the parts of a rotated view that lie outside the source crop
_BORDERS = dict(constant=cv2.BORDER_CONSTANT, reflect=cv2.BORDER_REFLECT_101,
                replicate=cv2.BORDER_REPLICATE)


# --- photometric operations on uint8 BGR images (torchvision semantics) ---------------------
def _gray(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _blend(img, other, factor):
    return np.clip(img.astype(np.float32) * factor + np.float32(other) * (1 - factor), 0,
                   255).astype(np.uint8)


def color_jitter(img, rng, brightness, contrast, saturation, hue):
    """torchvision ``ColorJitter``: the four changes in random order, factors drawn per call."""
    for op in rng.permutation(4):
        if op == 0 and brightness > 0:
            img = _blend(img, 0, rng.uniform(max(0, 1 - brightness), 1 + brightness))
        elif op == 1 and contrast > 0:
            img = _blend(img, _gray(img).mean(), rng.uniform(max(0, 1 - contrast), 1 + contrast))
        elif op == 2 and saturation > 0:
            img = _blend(img, _gray(img)[..., None],
                         rng.uniform(max(0, 1 - saturation), 1 + saturation))
        elif op == 3 and hue > 0:
            hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV_FULL)  # hue spans 0..255
            shift = int(round(rng.uniform(-hue, hue) * 255))
            hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift).astype(np.uint8)  # wraps
            img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR_FULL)
    return img


def solarize(img, threshold=128):
    return np.where(img >= threshold, 255 - img, img).astype(np.uint8)


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
                 seed=None):
        if view_size % patch_size:
            raise ValueError(f'view_size {view_size} is not a multiple of patch {patch_size}')
        self.num_views, self.view_size = num_views, view_size
        self.crop_scale, self.crop_ratio = tuple(crop_scale), tuple(crop_ratio)
        self.rotation, self.random_rotation_sign = tuple(rotation), random_rotation_sign
        self.num_local_views, self.local_view_size = num_local_views, local_view_size
        self.local_crop_scale = tuple(local_crop_scale)
        self.color_jitter, self.color_jitter_prob = dict(color_jitter), color_jitter_prob
        self.grayscale_prob, self.blur_sigma = grayscale_prob, tuple(blur_sigma)
        # per global view probabilities; views beyond the list reuse its last entry
        self.blur_prob, self.local_blur_prob = tuple(blur_prob), local_blur_prob
        self.solarize_prob, self.local_solarize_prob = tuple(solarize_prob), local_solarize_prob
        grid = view_size // patch_size
        self.mask_generator = PatchMaskGenerator((grid, grid), mask_ratio, mask_prob,
                                                 mask_shape, mask_min_block, mask_aspect)
        self.interpolation = _INTERP[interpolation]
        if border_mode not in _BORDERS:
            raise ValueError(f'border_mode must be one of {sorted(_BORDERS)}, got '
                             f'{border_mode!r}')
        self.border_value, self.border_mode = border_value, border_mode
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
                              borderValue=self.border_value)

    # --- photometry -------------------------------------------------------------------------
    def photometric(self, img, rng, blur_prob, solarize_prob):
        if rng.random() < self.color_jitter_prob:
            img = color_jitter(img, rng, **self.color_jitter)
        if rng.random() < self.grayscale_prob:
            img = cv2.cvtColor(_gray(img), cv2.COLOR_GRAY2BGR)
        if rng.random() < blur_prob:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*self.blur_sigma))
        if rng.random() < solarize_prob:
            img = solarize(img)
        return img

    def transform(self, results):
        img = results['img']
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        rng = self._rng()
        height, width = img.shape[:2]
        views, geometry, masks = [], [], []
        for i in range(self.num_views):
            affine = self.sample_geometry(rng, width, height, self.crop_scale)
            view = self.warp(img, affine, self.view_size)
            blur = self.blur_prob[min(i, len(self.blur_prob) - 1)]
            solarize = self.solarize_prob[min(i, len(self.solarize_prob) - 1)]
            views.append(self.photometric(view, rng, blur, solarize))
            geometry.append(affine)
            masks.append(self.mask_generator(rng))
        for _ in range(self.num_local_views):
            affine = self.sample_geometry(rng, width, height, self.local_crop_scale)
            view = self.warp(img, affine, self.local_view_size)
            views.append(self.photometric(view, rng, self.local_blur_prob,
                                          self.local_solarize_prob))
            geometry.append(affine)
        results['img'] = views
        results['img_shape'] = (self.view_size, self.view_size)
        results['mask'] = torch.from_numpy(np.stack(masks))
        results['view_geometry'] = torch.from_numpy(np.stack(geometry).astype(np.float32))
        return results

    def __repr__(self):
        return (f'{self.__class__.__name__}(num_views={self.num_views}, '
                f'view_size={self.view_size}, crop_scale={self.crop_scale}, '
                f'rotation={self.rotation}, num_local_views={self.num_local_views}, '
                f'mask_generator={vars(self.mask_generator)})')
