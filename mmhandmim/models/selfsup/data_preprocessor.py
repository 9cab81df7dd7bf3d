"""The pre-training data preprocessor that makes the views on the model's device.

With ``HandMultiView(device_augment=True)`` a batch holds one source crop per sample and the
drawn parameters of every view; this preprocessor warps and colours the views (global first,
then local) in a few batched ops on the batch's device, so the dataloader workers only decode,
crop and draw random numbers. For batches of ready views (the CPU path) it is exactly
mmpretrain's ``SelfSupDataPreprocessor``.
"""
from typing import List, Optional

import torch
from mmpretrain.models import SelfSupDataPreprocessor
from mmpretrain.registry import MODELS

from ...utils.errors import ConfigError
from .view_augment import augment_views


def _stacked(samples, key: str) -> torch.Tensor:
    try:
        return torch.stack([ds.get(key) for ds in samples])
    except (TypeError, RuntimeError) as exc:
        raise ConfigError(f'HandViewDataPreprocessor: every data sample needs {key!r} of one '
                          f'shape; pack it with PackInputs(algorithm_keys=[..., {key!r}]) '
                          f'after one HandMultiView(device_augment=True) ({exc})') from None


@MODELS.register_module()
class HandViewDataPreprocessor(SelfSupDataPreprocessor):
    """``SelfSupDataPreprocessor`` (same arguments) that builds device-augmented views.

    When the data samples carry ``view_photometric`` it takes the collated sources
    ``inputs = [(B, 3, H, W) uint8 BGR]``, cuts each view with its ``view_geometry`` and
    ``view_sizes``, applies its photometric parameters, then converts channels and
    normalises like ``SelfSupDataPreprocessor``. Returns ``inputs`` as the list of view
    batches ``HandMIM.loss`` expects.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        samples: Optional[List] = data.get('data_samples')
        if not samples or 'view_photometric' not in samples[0]:
            return super().forward(data, training)
        data = self.cast_data(data)
        src, samples = data['inputs'], data['data_samples']
        if isinstance(src, (list, tuple)):
            if len(src) != 1:
                raise ConfigError(f'HandViewDataPreprocessor: expected one source image per '
                                  f'sample, got {len(src)} images; make the samples with '
                                  'HandMultiView(device_augment=True)')
            src = src[0]
        sizes = _stacked(samples, 'view_sizes')
        if not bool((sizes == sizes[:1]).all()):
            raise ConfigError('HandViewDataPreprocessor: the samples of one batch have '
                              f'different view_sizes {sizes.unique().tolist()}; build them '
                              'with one HandMultiView')
        geometry = _stacked(samples, 'view_geometry')
        params = _stacked(samples, 'view_photometric')
        # float32 throughout, also when the step runs under AMP autocast
        with torch.no_grad(), torch.autocast(src.device.type, enabled=False):
            views = augment_views(src, geometry, params, sizes[0].tolist())
            if self._channel_conversion:
                views = [view[:, [2, 1, 0]] for view in views]
            if self._enable_normalize:
                views = [(view - self.mean) / self.std for view in views]
        return {'inputs': views, 'data_samples': samples}
