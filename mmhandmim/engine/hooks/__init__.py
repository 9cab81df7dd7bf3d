from .finite_loss_hook import FiniteLossHook, NonFiniteLossError  # noqa: F401
from .handmim_schedule_hooks import (FreezeLastLayerHook, TeacherEMAHook,  # noqa: F401
                                     TeacherTempHook)
from .rng_state_hook import RNGStateHook  # noqa: F401
from .pose_collapse_monitor import PoseCollapseMonitorHook  # noqa: F401
from .mesh_visualization_hook import MeshVisualizationHook  # noqa: F401
from .resume_validation_hook import ResumeValidationHook  # noqa: F401
