from .hand_mesh_metric import HandMeshMetric  # noqa: F401
