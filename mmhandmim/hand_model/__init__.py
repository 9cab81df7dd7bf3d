"""Hand model: keypoint orders, MANO loading without chumpy and the MANO layer.

A hand model that is not MANO but ships in MANO's format (the stand-in, ``mmhandmim.standin``)
plugs in through ``mano_io.register_named_model``; nothing here imports it."""
from .keypoints import (FINGERS, FINGERTIP_VERTEX_IDS, FREIHAND_FROM_HO3D, HO3D_FROM_FREIHAND,
                        KEYPOINT_NAMES, convert_keypoints, fingertip_ids, keypoint_parents,
                        skeleton_links)
from .mano_io import (STANDIN_KEY, MANOUnpickler, is_standin, load_mano_dict,
                      register_named_model, resolve_mano_file)
from .mano_layer import MANOLayer

__all__ = [
    'FINGERS', 'FINGERTIP_VERTEX_IDS', 'FREIHAND_FROM_HO3D', 'HO3D_FROM_FREIHAND',
    'KEYPOINT_NAMES', 'convert_keypoints', 'fingertip_ids', 'keypoint_parents',
    'skeleton_links', 'STANDIN_KEY', 'MANOUnpickler', 'is_standin', 'load_mano_dict',
    'register_named_model', 'resolve_mano_file', 'MANOLayer'
]
