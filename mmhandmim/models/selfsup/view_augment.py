"""HandMIM view augmentation as batched torch ops, for the model's device (after collation).

``HandMultiView(device_augment=True)`` samples every random parameter on the CPU (same draws,
same order as its CPU path) but leaves the pixels alone; ``HandViewDataPreprocessor`` then cuts
the views out of the collated source batch with :func:`warp_views` and applies
:func:`apply_photometric`. Each op reproduces the CPU path's uint8 arithmetic (numpy/OpenCV):
values stay on integer levels 0..255 (float32 tensors) and are floored or rounded exactly where
the CPU path is. Measured against it (``tests/test_selfsup/test_device_augment.py``):
brightness, contrast, saturation, grayscale, solarize and blur are bit-identical; hue is
within 1 level; the bicubic warp differs slightly (OpenCV quantises coordinates to 1/32 px).

Float32 only: everything runs with autocast off, the grid and the blur are elementwise (no
matmul or convolution that TF32 could round), so GPU and CPU agree.
"""
from typing import Sequence, Union

import torch
import torch.nn.functional as F

from ...datasets.transforms.view_photometric_params import (BORDER_MODE_CODES,
                                                             INTERPOLATION_CODES, JITTER_OPS,
                                                             PHOTOMETRIC_FIELDS)
from ...structures import invert_affine
from ...utils.errors import ConfigError

# the layout of ``view_photometric`` rows is the data side's (one owner); here its readings
COL = {name: i for i, name in enumerate(PHOTOMETRIC_FIELDS)}
#: names of the ``interpolation`` and ``border_mode`` column codes
INTERPOLATIONS = tuple(sorted(INTERPOLATION_CODES, key=INTERPOLATION_CODES.get))
BORDER_MODES = tuple(sorted(BORDER_MODE_CODES, key=BORDER_MODE_CODES.get))
#: op ids in ``op0..op3`` (-1: none)
BRIGHTNESS, CONTRAST, SATURATION, HUE = (JITTER_OPS.index(n) for n in
                                         ('brightness', 'contrast', 'saturation', 'hue'))


# --- geometry -----------------------------------------------------------------------------
def view_grid(geometry: torch.Tensor, size: int) -> torch.Tensor:
    """Source sampling grid ``(B, size, size, 2)`` of views with ``geometry (B, 2, 3)``.

    ``F.affine_grid(invert_affine(geometry), (B, C, size, size), align_corners=False)``
    computed elementwise, so no TF32 matmul can round the coordinates on a GPU.
    """
    inv = invert_affine(geometry.float())
    v = (torch.arange(size, device=geometry.device, dtype=torch.float32) * 2 + 1) / size - 1
    vx, vy = v[None, None, :], v[None, :, None]  # view pixel centres, x along columns
    coeff = [inv[:, i, j, None, None] for i in range(2) for j in range(3)]
    x = coeff[0] * vx + coeff[1] * vy + coeff[2]
    y = coeff[3] * vx + coeff[4] * vy + coeff[5]
    return torch.stack([x, y], -1)


def warp_views(src: torch.Tensor, geometry: torch.Tensor, size: int,
               border_value: Union[float, torch.Tensor] = 0., interpolation: str = 'bicubic',
               border_mode: str = 'constant') -> torch.Tensor:
    """Cut one view per sample out of ``src`` like ``cv2.warpAffine`` does on the CPU path.

    Args:
        src (torch.Tensor): source images ``(B, C, H, W)``, uint8 or float levels 0..255.
        geometry (torch.Tensor): ``(B, 2, 3)`` normalised source -> view affines
            (``structures.view_affine``).
        size (int): side of the square views.
        border_value (float | torch.Tensor): level of view pixels outside the source
            (``border_mode='constant'``); a scalar or one per sample ``(B,)``.
        interpolation (str): ``'bicubic'`` (OpenCV's a = -0.75 kernel), ``'bilinear'`` or
            ``'nearest'``.
        border_mode (str): ``'constant'`` or ``'replicate'``.

    Returns:
        torch.Tensor: float32 ``(B, C, size, size)`` on integer levels 0..255 (rounded and
        clamped like OpenCV's saturating cast).
    """
    if border_mode not in BORDER_MODES:
        raise ValueError(f'border_mode must be one of {BORDER_MODES} on the device, got '
                         f'{border_mode!r}')
    src = src.float()
    grid = view_grid(geometry, size)
    if border_mode == 'replicate':  # per-tap clamping: OpenCV's BORDER_REPLICATE
        out = F.grid_sample(src, grid, interpolation, 'border', align_corners=False)
    else:  # zero padding of (src - border) is constant padding with the border level
        bv = torch.as_tensor(border_value, dtype=torch.float32, device=src.device)
        bv = bv.reshape(-1, 1, 1, 1) if bv.ndim else bv
        out = F.grid_sample(src - bv, grid, interpolation, 'zeros', align_corners=False) + bv
    return out.round_().clamp_(0, 255)


# --- photometric ops on float levels (B, 3, h, w), BGR ------------------------------------
def gray_levels(img: torch.Tensor) -> torch.Tensor:
    """``cv2.COLOR_BGR2GRAY`` on uint8 levels, bit-exact: OpenCV's 15-bit fixed point
    (3735 B + 19235 G + 9798 R) / 2**15, rounded. Exact in float32 (sums stay below 2**24)."""
    b, g, r = img[:, 0:1], img[:, 1:2], img[:, 2:3]
    return torch.floor((b * 3735 + g * 19235 + r * 9798 + 16384) / 32768)


def _blend(img, other, factor):
    """numpy's ``_blend`` of the CPU path: ``float32(img) * float32(f) + other``, clipped and
    floored (``astype(np.uint8)``); ``other`` is the float32 second term, ``factor`` float64."""
    return torch.floor((img * factor.float() + other).clamp_(0, 255))


def _jitter_op(img, op_id, factor):
    """Brightness, contrast or saturation with the CPU path's numpy 1.x rounding: a scalar
    ``other`` (0, the grey mean) times ``1 - f`` in float64, an array one in float32."""
    if op_id == BRIGHTNESS:
        return _blend(img, torch.zeros_like(img[:, :1]), factor)
    gray = gray_levels(img)
    if op_id == CONTRAST:
        mean = gray.double().mean((1, 2, 3), keepdim=True).float().double()
        return _blend(img, (mean * (1 - factor)).float(), factor)
    return _blend(img, gray * (1 - factor).float(), factor)


def _sdiv_tables(device):
    """OpenCV's RGB2HSV_b tables: ``round((255 << 12) / i)`` and ``round((256 << 12) / 6i)``."""
    i = torch.arange(256, dtype=torch.float64, device=device)
    sdiv = torch.round(255 * 4096 / i).nan_to_num(0, 0, 0).int()
    hdiv = torch.round(256 * 4096 / (6 * i)).nan_to_num(0, 0, 0).int()
    sdiv[0] = hdiv[0] = 0
    return sdiv, hdiv


def bgr_to_hsv_full(img: torch.Tensor) -> torch.Tensor:
    """``cv2.COLOR_BGR2HSV_FULL`` on uint8 levels (hue 0..255), OpenCV's integer formula
    (int32 suffices: the largest product is 1275 * 174763 < 2**31)."""
    b, g, r = img.int().unbind(1)
    v = torch.maximum(torch.maximum(b, g), r)
    diff = v - torch.minimum(torch.minimum(b, g), r)
    sdiv, hdiv = _sdiv_tables(img.device)
    s = (diff * sdiv[v] + 2048) >> 12
    h = torch.where(v == r, g - b, torch.where(v == g, b - r + 2 * diff, r - g + 4 * diff))
    h = (h * hdiv[diff] + 2048) >> 12
    h = torch.where(h < 0, h + 256, h).clamp_(max=255)
    return torch.stack([h, s, v], 1).float()


# sector -> which of (v, p, q, t) is b, g, r (OpenCV's HSV2RGB_native)
_SECTORS = torch.tensor([[1, 3, 0], [1, 0, 2], [3, 0, 1], [0, 2, 1], [0, 1, 3], [2, 1, 0]])


def hsv_full_to_bgr(hsv: torch.Tensor) -> torch.Tensor:
    """``cv2.COLOR_HSV2BGR_FULL`` on uint8 levels: OpenCV's float32 formula, rounded. Note
    OpenCV's asymmetry: the way back reads hue in units of 6 / 255 (not 6 / 256)."""
    h, s, v = hsv[:, 0] * (6. / 255), hsv[:, 1] * (1. / 255), hsv[:, 2] * (1. / 255)
    sector = torch.floor(h)
    frac = h - sector
    tab = torch.stack([v, v * (1 - s), v * (1 - s * frac), v * (1 - s * (1 - frac))], 1)
    # hue 255 reaches 6.0: sector 6 is sector 0 (OpenCV's wrap)
    idx = _SECTORS.to(hsv.device)[sector.long().remainder_(6)].permute(0, 3, 1, 2)
    return (torch.gather(tab, 1, idx) * 255).round_().clamp_(0, 255)


def _shift_hue(img, shift):
    hsv = bgr_to_hsv_full(img)
    hue = torch.remainder(hsv[:, 0] + shift[:, None, None], 256)  # uint8 wrap-around
    return hsv_full_to_bgr(torch.cat([hue[:, None], hsv[:, 1:]], 1))


def gaussian_taps(sigma: torch.Tensor) -> torch.Tensor:
    """Per-sample 1D kernels ``(B, K)`` of ``cv2.GaussianBlur(img, (0, 0), sigma)`` on uint8.

    OpenCV: ``ksize = round(6 sigma + 1) | 1`` taps, weights rounded to 1/256 (its bit-exact
    fixed-point path for 8-bit images). Samples with smaller kernels are zero-padded to the
    batch's largest; ``sigma == 0`` gives the identity.
    """
    sigma = sigma.double()
    ksize = (torch.round(sigma * 6 + 1).long() | 1).where(sigma > 0, torch.ones_like(
        sigma, dtype=torch.long))
    half = int(ksize.max()) // 2
    x = torch.arange(-half, half + 1, dtype=torch.float64, device=sigma.device)
    inside = x.abs()[None] <= (ksize[:, None] // 2)
    w = torch.exp(-x[None] ** 2 / (2 * sigma[:, None].clamp(min=1e-6) ** 2)) * inside
    w = w / w.sum(1, keepdim=True) * 256
    # OpenCV rounds the taps from the outside in, carrying each rounding error to the next
    # tap (error diffusion), and gives the centre what makes the sum exactly 1
    err = torch.zeros_like(sigma)
    for i in range(half):
        adj = w[:, i] + err
        w[:, i] = w[:, -1 - i] = torch.round(adj)
        err = adj - w[:, i]
    w[:, half] = 256 - w[:, :half].sum(1) * 2
    return torch.where(sigma[:, None] > 0, w, (x[None] == 0).double() * 256)


def _blur(img, taps):
    """Separable blur with per-sample ``taps (B, K)`` (``gaussian_taps``), BORDER_REFLECT_101
    (``F.pad`` 'reflect'), OpenCV's integer arithmetic: rows then columns with 1/256 weights,
    one rounding at the end (exact in float32: the sums stay below 2**24)."""
    taps = taps.to(img.device, torch.float32)
    half = taps.shape[1] // 2
    if half == 0:
        return img
    height, width = img.shape[-2:]
    if half >= min(height, width):
        raise ConfigError(f'HandMultiView blur_sigma: a {2 * half + 1}-tap blur does not fit '
                          f'a {height}x{width} view; lower blur_sigma or enlarge the view')
    padded = F.pad(img, (half, half, half, half), mode='reflect')
    rows = sum(taps[:, k, None, None, None] * padded[..., k:k + width]
               for k in range(2 * half + 1))
    cols = sum(taps[:, k, None, None, None] * rows[..., k:k + height, :]
               for k in range(2 * half + 1))
    return torch.floor((cols + 32768) / 65536)


def _where(img, chosen, op):
    """``img`` with ``op(img[chosen], chosen)`` written into the rows a host bool mask chose:
    each op runs on its samples only (nothing when none, no gather when all)."""
    idx = chosen.nonzero().flatten()
    if idx.numel() == len(img):
        return op(img, slice(None))
    if idx.numel():
        dev_idx = idx.to(img.device)
        img = img.index_copy(0, dev_idx, op(img[dev_idx], dev_idx))
    return img


def apply_photometric(views: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
    """Colour jitter (per-sample op order), grayscale, blur and solarize, batched.

    Per op position the samples are grouped by op, so each sample runs exactly its own ops;
    the choices are read from one host copy of ``params`` (one sync per call).

    Args:
        views (torch.Tensor): ``(B, 3, h, w)`` float BGR on integer levels 0..255.
        params (torch.Tensor): ``(B, P)`` rows of ``view_photometric`` (``PHOTOMETRIC_FIELDS``;
            float64 keeps the factors exactly as the CPU path drew them).

    Returns:
        torch.Tensor: float32 ``(B, 3, h, w)`` on integer levels 0..255 (a new tensor).
    """
    p, img = params.double(), views.float()
    host = params.detach().cpu()
    jitter = host[:, COL['jitter']] > 0
    for pos in range(4):
        for op_id, name in enumerate(('brightness', 'contrast', 'saturation', 'hue_shift')):
            chosen = jitter & (host[:, COL[f'op{pos}']] == op_id)
            if op_id == HUE:
                img = _where(img, chosen, lambda x, i: _shift_hue(x, p[i, COL[name]].float()))
            else:
                img = _where(img, chosen, lambda x, i: _jitter_op(
                    x, op_id, p[i, COL[name], None, None, None]))  # noqa: B023 (called now)
    img = _where(img, host[:, COL['grayscale']] > 0,
                 lambda x, i: gray_levels(x).expand_as(x))
    blurred = host[:, COL['blur_sigma']] > 0
    img = _where(img, blurred, lambda x, i: _blur(
        x, gaussian_taps(host[blurred, COL['blur_sigma']])))
    img = _where(img, host[:, COL['solarize']] > 0,
                 lambda x, i: torch.where(x >= 128, 255 - x, x))
    return img if img is not views else img.clone()


def augment_views(src: torch.Tensor, geometry: torch.Tensor, params: torch.Tensor,
                  sizes: Sequence[int]) -> list:
    """All views of a batch: ``geometry (B, V, 2, 3)``, ``params (B, V, P)``, ``sizes`` (V)
    -> list of V float32 ``(B, 3, s, s)`` BGR level tensors, in the given view order."""
    interp = {int(c) for c in params[..., COL['interpolation']].flatten().tolist()}
    border = {int(c) for c in params[..., COL['border_mode']].flatten().tolist()}
    if len(interp) != 1 or len(border) != 1:
        raise ConfigError('HandViewDataPreprocessor: the views of one batch must share '
                          f'interpolation and border_mode (got codes {sorted(interp)} / '
                          f'{sorted(border)}); build them with one HandMultiView')
    interp, border = INTERPOLATIONS[interp.pop()], BORDER_MODES[border.pop()]
    src, views = src.float(), []  # once for all views
    for j, size in enumerate(sizes):
        view = warp_views(src, geometry[:, j], int(size), params[:, j, COL['border_value']],
                          interp, border)
        views.append(apply_photometric(view, params[:, j]))
    return views
