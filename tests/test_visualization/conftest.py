"""Small procedural meshes for the visualisation tests."""
import pytest

from mmhandmim.visualization.primitives import uv_sphere as make_uv_sphere


@pytest.fixture
def uv_sphere():
    return make_uv_sphere
