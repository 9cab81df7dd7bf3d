from .estimator import HandMeshEstimator  # noqa: F401
from .losses import Keypoint2DReprojectionLoss, MANOParamLoss, RootRelativeL1Loss  # noqa: F401
from .pymaf_mano_head import PyMAFMANOHead  # noqa: F401
