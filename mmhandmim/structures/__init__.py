"""Geometry every layer shares (floor 1: imports only numpy, torch and itself).

* ``frames``: the OpenGL <-> OpenCV camera frames (numpy only).
* ``camera``: projection, camera-frame changes, posed-hand rotation; the pixel convention.
* ``image_warp``: similarity crops of an image and the camera they imply.
* ``view_affine``: the normalised view affines of the pre-training augmentation (eq. 3-4).
* ``rotations``: rotation conversions, the chordal mean and numpy front-ends.
"""
import importlib

#: public name -> submodule; loaded on first use (PEP 562), so ``structures.frames`` stays
#: importable without torch (the light evaluator) while everything is reachable from here
_EXPORTS = {
    'frames': ('CV_TO_GL', 'GL_TO_CV'),
    'camera': ('project', 'rotate_global_orient', 'rotate_posed_hand'),
    'image_warp': ('crop_to_source', 'cv2_warp_matrix', 'homogeneous', 'inplane_rotation',
                   'invert_warp', 'split_similarity', 'warp_camera'),
    'rotations': ('aa_to_mat', 'axis_angle_to_matrix', 'chordal_mean', 'mat_to_aa',
                  'matrix_to_axis_angle', 'matrix_to_quaternion', 'matrix_to_rot6d',
                  'project_to_so3', 'quaternion_to_axis_angle', 'rot6d_to_matrix',
                  'rotation_about', 'slerp'),
    'view_affine': ('apply_affine', 'invert_affine', 'make_view_affine', 'normalized_to_pixel',
                    'pixel_to_normalized', 'pixel_to_normalized_matrix', 'source_to_view',
                    'view_cv2_matrix', 'view_pixel_warp', 'view_to_source'),
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
