"""The benchmarks' joint order and camera frame, and the conversion into them.

Models and datasets work in FreiHAND's joint order and the OpenCV camera frame; HO3D's
benchmark expects its own order and the OpenGL frame. One owner for the metric and the
baselines. Numpy only at import: the standalone evaluator runs without torch.
"""
from typing import Tuple

import numpy as np

from ..structures.frames import GL_TO_CV
from .functional import PROTOCOLS

#: protocol -> (joint order, 3x3 applied to OpenCV-frame points)
PROTOCOL_SPACE = dict(freihand=('freihand', np.eye(3)), ho3d=('ho3d', GL_TO_CV))


def check_protocol(protocol: str) -> str:
    """Return ``protocol`` if it is one of ``PROTOCOLS``.

    Args:
        protocol (str): 'freihand' or 'ho3d'.

    Returns:
        str: ``protocol``.

    Raises:
        ValueError: an unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f'protocol must be one of {PROTOCOLS}, got {protocol!r}')
    return protocol


def to_benchmark(xyz: np.ndarray, verts: np.ndarray,
                 protocol: str) -> Tuple[np.ndarray, np.ndarray]:
    """FreiHAND-order keypoints and vertices in the OpenCV frame -> the protocol's order and frame.

    Args:
        xyz (np.ndarray): (..., 21, 3) keypoints in FreiHAND order.
        verts (np.ndarray): (..., V, 3) vertices.
        protocol (str): 'freihand' or 'ho3d' (HO3D's joint order and OpenGL frame).

    Returns:
        Tuple[np.ndarray, np.ndarray]: the keypoints (..., 21, 3) and vertices (..., V, 3).

    Raises:
        ValueError: an unknown protocol.
    """
    # the hand model package imports torch; this module must not at import time
    from ..hand_model.keypoints import convert_keypoints
    order, frame = PROTOCOL_SPACE[check_protocol(protocol)]
    return convert_keypoints(xyz @ frame.T, 'freihand', order), verts @ frame.T
