from .mesh_topdown import MeshTopdownAffine  # noqa: F401
from .multiview import HandMultiView  # noqa: F401
from .pack_mesh import PackMeshInputs  # noqa: F401
