from .estimator import HandMeshEstimator  # noqa: F401
from .losses import (Keypoint2DReprojectionLoss, KeypointHeatmapLoss, MANOParamLoss,  # noqa: F401
                     RootRelativeL1Loss, WeakCameraLoss)
from .pymaf_mano_head import PyMAFMANOHead  # noqa: F401
