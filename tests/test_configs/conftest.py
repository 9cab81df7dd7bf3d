"""Fixtures shared by the config tests."""
import pytest


@pytest.fixture
def runner_globals():
    """The runners' message hub, logger and visualizer instances do not outlive the test (the
    default scope is restored by mmpose_scope)."""
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.visualization import Visualizer
    from mmpose.visualization import PoseLocalVisualizer

    from mmhandmim.engine.hand_mesh_visualizer import HandMeshLocalVisualizer
    classes = (MessageHub, MMLogger, Visualizer, PoseLocalVisualizer, HandMeshLocalVisualizer)
    saved = {cls: cls._instance_dict.copy() for cls in classes}
    yield
    for cls in classes:
        for name in set(cls._instance_dict) - set(saved[cls]):
            if cls is MMLogger:
                for handler in cls._instance_dict[name].handlers:
                    handler.close()
        cls._instance_dict = saved[cls]
