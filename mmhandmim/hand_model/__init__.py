"""Hand model: keypoint orders, MANO loading without chumpy, the MANO layer and the procedural
stand-in hand model (not MANO) used where MANO is not available."""
from .keypoints import (FINGERS, FINGERTIP_VERTEX_IDS, FREIHAND_FROM_HO3D, HO3D_FROM_FREIHAND,
                        KEYPOINT_NAMES, convert_keypoints, fingertip_ids, keypoint_parents,
                        skeleton_links)
from .mano_io import MANOUnpickler, load_mano_dict, resolve_mano_file
from .mano_layer import MANOLayer
from .rotation import (axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d,
                       rot6d_to_matrix)
from .standin import (STANDIN_FINGERTIP_IDS, build_standin_mano_dict, sample_betas,
                      sample_hand_pose, standin_mano_dir)

__all__ = [
    'FINGERS', 'FINGERTIP_VERTEX_IDS', 'FREIHAND_FROM_HO3D', 'HO3D_FROM_FREIHAND',
    'KEYPOINT_NAMES', 'convert_keypoints', 'fingertip_ids', 'keypoint_parents',
    'skeleton_links', 'MANOUnpickler', 'load_mano_dict', 'resolve_mano_file', 'MANOLayer',
    'axis_angle_to_matrix', 'matrix_to_axis_angle', 'matrix_to_rot6d', 'rot6d_to_matrix',
    'STANDIN_FINGERTIP_IDS', 'build_standin_mano_dict', 'sample_betas', 'sample_hand_pose',
    'standin_mano_dir',
]
