"""Hand model: keypoint orders, MANO loading without chumpy and the MANO layer.

A hand model that is not MANO but ships in MANO's format (the stand-in, ``mmhandmim.standin``)
plugs in through ``mano_io.register_named_model``; nothing here imports it.
"""
import importlib

#: public name -> submodule; loaded on first use (PEP 562), so ``hand_model.keypoints`` (numpy
#: only) serves the light evaluator without importing torch through ``mano_layer``
_EXPORTS = {
    'keypoints': ('FINGERS', 'FINGERTIP_VERTEX_IDS', 'FREIHAND_FROM_HO3D', 'HO3D_FROM_FREIHAND',
                  'KEYPOINT_NAMES', 'convert_keypoints', 'fingertip_ids', 'keypoint_parents',
                  'skeleton_links'),
    'mano_io': ('STANDIN_KEY', 'MANOUnpickler', 'is_standin', 'load_mano_dict',
                'register_named_model', 'resolve_mano_file'),
    'mano_layer': ('MANOLayer', ),
}
_OWNER = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_OWNER)


def __getattr__(name):
    if name not in _OWNER:
        raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
    value = getattr(importlib.import_module(f'.{_OWNER[name]}', __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
