"""Inference API (mmpose's ``init_model`` / ``inference_topdown`` style) for hand meshes."""
from .checks import BoxError, InferenceInputError
from .export import write_obj
from .hand_detection import DetectedHand, DetectorMissingError, HandDetector, detect_hands
from .inference import (DEFAULT_FOCAL_FACTOR, default_intrinsics, inference_mesh_model,
                        inference_pipeline_cfg, init_mesh_model, mirror_intrinsics)

__all__ = ['init_mesh_model', 'inference_mesh_model', 'default_intrinsics',
           'mirror_intrinsics', 'inference_pipeline_cfg', 'DEFAULT_FOCAL_FACTOR',
           'InferenceInputError', 'BoxError', 'write_obj', 'HandDetector', 'DetectedHand',
           'detect_hands', 'DetectorMissingError']
