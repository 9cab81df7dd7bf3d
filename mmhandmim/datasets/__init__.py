from . import transforms  # noqa: F401
from .freihand import FreiHANDMeshDataset  # noqa: F401
from .ho3d import HO3DMeshDataset  # noqa: F401
from .unlabeled_hands import LoadHandCrop, UnlabeledHandDataset  # noqa: F401
