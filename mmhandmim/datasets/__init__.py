from . import transforms  # noqa: F401
from .unlabeled_hands import LoadHandCrop, UnlabeledHandDataset  # noqa: F401
