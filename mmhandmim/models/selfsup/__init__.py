"""HandMIM self-supervised pre-training, registered in mmpretrain's MODELS registry."""
from .checkpoint import handmim_to_backbone_state_dict  # noqa: F401
from .data_preprocessor import HandViewDataPreprocessor  # noqa: F401
from .handmim import HandMIM  # noqa: F401
from .heads import HandMIMProjectionHead  # noqa: F401
from .losses import HandMIMDistillLoss  # noqa: F401
from .pixel_decoder import PyramidPixelDecoder  # noqa: F401
from .pose_alignment import PoseAlignment, align_pseudo_keypoints  # noqa: F401
from .visualize import visualize_reconstruction  # noqa: F401
from .vit import HandMIMViT  # noqa: F401
