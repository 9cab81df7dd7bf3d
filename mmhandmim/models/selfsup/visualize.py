"""Picture of the student's pixel reconstruction: input | masked input | output | pasted."""
import os
from typing import Any, Dict

import cv2
import numpy as np
import torch
from mmengine.model import is_model_wrapper
from torch import nn


def _to_bgr_uint8(x, preprocessor):
    """``(B, 3, H, W)`` preprocessed images back to ``(B, H, W, 3)`` uint8 BGR."""
    if getattr(preprocessor, '_enable_normalize', False):
        x = x * preprocessor.std + preprocessor.mean
    x = x.clamp(0, 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
    if getattr(preprocessor, '_channel_conversion', False):
        x = x[..., ::-1]  # the preprocessor made RGB from the pipeline's BGR
    return np.ascontiguousarray(x)


def visualize_reconstruction(model: nn.Module, data: Dict[str, Any], out_file: str,
                             view: int = 0, max_images: int = 4) -> np.ndarray:
    """Write a PNG of the student's pixel reconstruction, one row per image of a batch.

    Each row shows the view, the view with its masked patches grey, the reconstruction, and
    the reconstruction pasted into the masked patches. The model runs in eval mode and gets
    its training mode back afterwards.

    Args:
        model (nn.Module): a ``HandMIM`` with a pixel decoder, or a model wrapper of one.
        data (Dict[str, Any]): a collated batch, dict of ``inputs`` and ``data_samples``, as
            a dataloader yields it.
        out_file (str): path of the PNG (its folder is created).
        view (int): which (global) view to show.
        max_images (int): at most this many images (rows).

    Returns:
        np.ndarray: the picture (H x W x 3 uint8 BGR).

    Raises:
        ValueError: the model has no pixel decoder (``loss_weights.recon`` is 0).
        IOError: the PNG could not be written.
    """
    model = model.module if is_model_wrapper(model) else model
    if model.decoder is None:
        raise ValueError('the model has no pixel decoder (loss_weights.recon is 0)')
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            batch = model.data_preprocessor(data, False)
            img = batch['inputs'][view][:max_images]
            mask = torch.stack([ds.mask[view] for ds in batch['data_samples'][:max_images]])
            pred = model.reconstruct(img, mask.bool())
    finally:
        model.train(was_training)
    p = model.patch_size
    pix = mask.bool().repeat_interleave(p, -2).repeat_interleave(p, -1)[:, None].to(img.device)
    pre = model.data_preprocessor
    shown = [_to_bgr_uint8(x, pre) for x in (img, img, pred, torch.where(pix, pred, img))]
    shown[1] = np.where(pix.permute(0, 2, 3, 1).cpu().numpy(), np.uint8(128), shown[1])
    rows = [np.concatenate([s[i] for s in shown], 1) for i in range(img.shape[0])]
    picture = np.concatenate(rows, 0)
    os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
    if not cv2.imwrite(out_file, picture):
        raise IOError(f'could not write {out_file}')
    return picture
