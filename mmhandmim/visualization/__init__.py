"""Software mesh rendering (pure torch, CPU) and cv2 drawing helpers.

Light on purpose: imports only torch, numpy and cv2 (no mmengine/mmpose), so data
generators and demos can use it without the training stack. The registered OpenMMLab
visualizer built on it, ``HandMeshLocalVisualizer``, needs mmpose and so lives in the engine
layer (``mmhandmim.engine.hand_mesh_visualizer``).
"""
from .draw import draw_keypoints, make_grid
from .mesh_renderer import (RenderLayers, composite, render_layers, render_mesh,
                            render_side_view, side_view_camera)
from .rasterizer import Fragments, SparseFragments, rasterize, rasterize_sparse

__all__ = ['Fragments', 'SparseFragments', 'rasterize', 'rasterize_sparse', 'RenderLayers',
           'render_layers', 'render_mesh', 'render_side_view', 'side_view_camera',
           'composite', 'draw_keypoints', 'make_grid']

