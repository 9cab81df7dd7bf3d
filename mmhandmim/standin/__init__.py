"""The procedural stand-in hand model (not MANO) and the generator of stand-in datasets.

MANO is licence-gated and FreiHAND/HO3D are not always at hand, so tests, CI, the demo and
smoke runs use a generated hand written in MANO's pickle format (``hand``, built from
``geometry``, ``rig`` and ``pose``) and generated images in the real datasets' layouts
(``generation``, imported on its own: only tests, tools and benchmarks use it).

Importing this package registers ``model_path='standin'`` with the hand model
(``hand_model.mano_io.register_named_model``); ``import mmhandmim`` does it.
"""
from ..hand_model.mano_io import register_named_model
from .hand import (STANDIN_FINGERTIP_IDS, STANDIN_VERSION, build_standin_mano_dict, source_hash,
                   standin_mano_dir)
from .pose import sample_betas, sample_hand_pose

register_named_model('standin', standin_mano_dir)

__all__ = [
    'STANDIN_FINGERTIP_IDS', 'STANDIN_VERSION', 'build_standin_mano_dict', 'source_hash',
    'standin_mano_dir', 'sample_betas', 'sample_hand_pose'
]
