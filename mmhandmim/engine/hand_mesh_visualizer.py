"""``HandMeshLocalVisualizer``: mmpose's ``PoseLocalVisualizer`` that also renders hand meshes.

Draws a data sample in its *original* image: the estimator's ``pred_instances`` (``vertices``
in metres in the dataset camera frame, ``keypoints`` in original-image pixels, see
``HandMeshEstimator``) and, optionally beside it, the ground truth. The mesh is rendered with
mmhandmim's CPU renderer (``mmhandmim.visualization``) and the original intrinsics, which
``source_intrinsics`` recovers from the crop's ``cam_K`` and ``warp_mat`` (``MeshTopdownAffine``
replaced K by ``A K R^T``).

It lives here, not in ``mmhandmim.visualization``, because that package must stay free of
OpenMMLab imports (data generators use it without the training stack).
"""
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.visualization.utils import color_str2rgb
from mmpose.registry import VISUALIZERS
from mmpose.structures import PoseDataSample
from mmpose.visualization import PoseLocalVisualizer

from ..hand_model import skeleton_links
from ..structures import homogeneous, invert_warp, split_similarity
from ..visualization import composite, draw_keypoints, render_layers

__all__ = ['HandMeshLocalVisualizer', 'source_intrinsics']

ColorType = Union[str, Sequence[int], np.ndarray, None]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def source_intrinsics(data_sample: PoseDataSample) -> Optional[np.ndarray]:
    """The (3, 3) intrinsics of a data sample's original image, or None if it has no ``cam_K``.

    ``gt_instances.cam_K`` is the crop's ``K' = A K R^T`` when the metainfo has the crop's
    ``warp_mat`` (``A`` its 3x3 form, ``R`` its rotation about the optical axis), so
    ``K = A^-1 K' R``; without ``warp_mat`` it is taken as the original K.

    Args:
        data_sample (PoseDataSample): the sample (``gt_instances.cam_K``, metainfo
            ``warp_mat``).

    Returns:
        np.ndarray, optional: (3, 3) float64 K, or None without ``cam_K``.
    """
    gt = data_sample.get('gt_instances')
    if gt is None or 'cam_K' not in gt:
        return None
    K = _np(gt.cam_K).astype(np.float64).reshape(-1, 3, 3)[0]
    warp = data_sample.metainfo.get('warp_mat')
    if warp is None:
        return K
    _, R = split_similarity(warp)
    return np.linalg.inv(homogeneous(warp)) @ K @ R


@VISUALIZERS.register_module()
class HandMeshLocalVisualizer(PoseLocalVisualizer):
    """Hand mesh + 2D keypoint visualizer (mmpose registry; RGB images in and out).

    Args:
        name (str): instance name (mmengine ``ManagerMixin``).
        faces (np.ndarray or torch.Tensor, optional): (F, 3) mesh triangles; None until
            :meth:`set_mesh_faces` (``MeshVisualizationHook`` takes them from the model's
            MANO layer).
        mesh_color (Sequence[float]): predicted mesh colour, RGB floats in [0, 1].
        gt_mesh_color (Sequence[float]): ground-truth mesh colour, RGB floats in [0, 1].
        mesh_alpha (float): opacity of the mesh over the image (0: invisible, 1: opaque).
        shading (str): 'flat' or 'smooth' (see ``render_layers``).
        antialias (bool or int): supersampling factor of the renderer (False: none).
        kpt_color (str or Sequence[int] or np.ndarray, optional): keypoint colour(s), RGB: a
            name, a triple, or one per keypoint (the dataset's ``keypoint_colors`` after
            :meth:`set_dataset_meta`).
        link_color (str or Sequence[int] or np.ndarray, optional): skeleton link colour(s),
            as ``kpt_color``; None cycles a palette.
        radius (int): keypoint radius in pixels.
        line_width (int): skeleton line width in pixels.
        backend (str): 'opencv' (default, no matplotlib figure per image) or 'matplotlib'.
        **kwargs: the other arguments of ``PoseLocalVisualizer`` (``vis_backends``,
            ``save_dir``, ``bbox_color``, ``skeleton``, ...).

    Raises:
        ValueError: ``mesh_alpha`` is outside [0, 1], ``shading`` unknown, or ``faces`` not
            an (F, 3) integer array.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 faces: Optional[Union[np.ndarray, torch.Tensor]] = None,
                 mesh_color: Sequence[float] = (0.85, 0.55, 0.45),
                 gt_mesh_color: Sequence[float] = (0.45, 0.7, 0.9),
                 mesh_alpha: float = 0.8,
                 shading: str = 'smooth',
                 antialias: Union[bool, int] = False,
                 kpt_color: ColorType = (255, 255, 0),
                 link_color: ColorType = None,
                 radius: int = 2,
                 line_width: int = 1,
                 backend: str = 'opencv',
                 **kwargs: Any) -> None:
        super().__init__(name=name, kpt_color=kpt_color, link_color=link_color, radius=radius,
                         line_width=line_width, backend=backend, **kwargs)
        if not 0.0 <= float(mesh_alpha) <= 1.0:
            raise ValueError(f'mesh_alpha must be in [0, 1], got {mesh_alpha!r}')
        if shading not in ('flat', 'smooth'):
            raise ValueError(f"shading must be 'flat' or 'smooth', got {shading!r}")
        self.mesh_color = tuple(float(c) for c in mesh_color)
        self.gt_mesh_color = tuple(float(c) for c in gt_mesh_color)
        self.mesh_alpha = float(mesh_alpha)
        self.shading = shading
        self.antialias = antialias
        self.faces: Optional[np.ndarray] = None
        if faces is not None:
            self.set_mesh_faces(faces)

    def set_mesh_faces(self, faces: Union[np.ndarray, torch.Tensor]) -> None:
        """Set the (F, 3) triangles that :meth:`draw_mesh` uses by default (e.g. MANO's).

        Args:
            faces (np.ndarray or torch.Tensor): (F, 3) integer vertex ids (kept as int64).

        Raises:
            ValueError: ``faces`` is not an (F, 3) integer array.
        """
        faces = _np(faces)
        if faces.ndim != 2 or faces.shape[1] != 3 or not np.issubdtype(faces.dtype, np.integer):
            raise ValueError(f'faces must be an (F, 3) integer array, got {faces.dtype} '
                             f'{faces.shape}')
        self.faces = faces.astype(np.int64)

    # --- drawing primitives ---------------------------------------------------------------
    def draw_mesh(self, image: np.ndarray, vertices: Union[np.ndarray, torch.Tensor],
                  K: Union[np.ndarray, torch.Tensor],
                  faces: Optional[Union[np.ndarray, torch.Tensor]] = None,
                  color: Optional[Sequence[float]] = None) -> np.ndarray:
        """Composite one mesh over an RGB image; pixels the mesh does not cover are unchanged.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB.
            vertices (np.ndarray or torch.Tensor): (V, 3) camera-frame vertices (metres).
            K (np.ndarray or torch.Tensor): (3, 3) intrinsics of ``image``.
            faces (np.ndarray or torch.Tensor, optional): (F, 3) triangles; default
                :attr:`faces`.
            color (Sequence[float], optional): RGB floats in [0, 1]; default
                :attr:`mesh_color`.

        Returns:
            np.ndarray: a new (H, W, 3) uint8 RGB image.

        Raises:
            ValueError: no faces given and none set.
        """
        faces = self.faces if faces is None else _np(faces)
        if faces is None:
            raise ValueError('no mesh faces: pass faces= or call set_mesh_faces() first '
                             '(MeshVisualizationHook takes them from the model)')
        layers = render_layers(_np(vertices).astype(np.float32), faces,
                               _np(K).astype(np.float64), image.shape[:2],
                               color=self.mesh_color if color is None else color,
                               shading=self.shading, antialias=self.antialias)
        rgb = (layers.color.numpy() * 255.0).round().astype(np.uint8)
        return composite(rgb, layers.alpha.numpy() * self.mesh_alpha, image)

    def draw_hand_keypoints(self, image: np.ndarray, keypoints: Union[np.ndarray, torch.Tensor],
                            scores: Optional[Union[np.ndarray, torch.Tensor]] = None,
                            kpt_thr: float = 0.0) -> np.ndarray:
        """Draw (N, 2) keypoints (continuous pixel coordinates) and the skeleton on a copy.

        Keypoints with ``scores <= kpt_thr`` and non-finite ones are skipped, with their links.
        The skeleton is the visualizer's, else FreiHAND's for 21 keypoints; one that does not
        fit the keypoints is not drawn.

        Args:
            image (np.ndarray): (H, W, 3) uint8 RGB.
            keypoints (np.ndarray or torch.Tensor): (N, 2) pixel coordinates.
            scores (np.ndarray or torch.Tensor, optional): (N,) scores (of an (N, k) array
                the first column); None: all drawn.
            kpt_thr (float): score threshold.

        Returns:
            np.ndarray: the drawn copy of ``image``.
        """
        kpts = _np(keypoints).astype(np.float64).reshape(-1, 2)
        links = self._links(len(kpts))
        link_colors = None if self.link_color is None or not links else [
            tuple(c) for c in self._color_table(self.link_color, len(links))]
        colors = self._color_table(self.kpt_color, len(kpts))
        kw = dict(radius=int(self.radius), thickness=max(int(self.line_width), 1),
                  score_thr=kpt_thr)
        # (N,) scores; mmpose's keypoints_visible may carry a second column (weights)
        sc = None if scores is None else \
            _np(scores).astype(np.float64).reshape(len(kpts), -1)[:, 0]
        out = draw_keypoints(image, kpts, links=links, link_colors=link_colors,
                             point_color=tuple(colors[0]), scores=sc, **kw)
        uniq, group = np.unique(colors, axis=0, return_inverse=True)
        if len(uniq) > 1:  # one colour per keypoint: redraw the dots, one call per colour
            for g, c in enumerate(uniq):
                sel = group.reshape(-1) == g
                draw_keypoints(out, kpts[sel], point_color=tuple(c), copy=False,
                               scores=None if sc is None else sc[sel], **kw)
        return out

    def _links(self, num_kpts: int) -> List[Tuple[int, int]]:
        links = self.skeleton
        if links is None:
            links = skeleton_links('freihand') if num_kpts == 21 else []
        links = [(int(i), int(j)) for i, j in links]
        if any(not (0 <= i < num_kpts and 0 <= j < num_kpts) for i, j in links):
            return []  # a skeleton of another keypoint set: draw the points only
        return links

    @staticmethod
    def _color_table(color: ColorType, n: int) -> np.ndarray:
        """(n, 3) int RGB rows from a colour name, a triple or a per-item table (cycled)."""
        if color is None:
            color = (255, 0, 0)
        if isinstance(color, str):
            color = color_str2rgb(color)
        table = np.asarray(color, np.int64).reshape(-1, 3)
        return table[np.arange(max(n, 1)) % len(table)]

    def _draw_bboxes(self, image: np.ndarray, bboxes) -> np.ndarray:
        color = tuple(int(c) for c in self._color_table(self.bbox_color, 1)[0])
        out = image.copy()
        for x0, y0, x1, y1 in np.rint(_np(bboxes).reshape(-1, 4)).astype(int):
            cv2.rectangle(out, (x0, y0), (x1 - 1, y1 - 1), color, max(int(self.line_width), 1))
        return out

    # --- data samples ---------------------------------------------------------------------
    def _instances_in_source(self, data_sample, gt: bool) -> List[Dict[str, np.ndarray]]:
        """Per instance: ``vertices``, ``keypoints``, ``scores`` in the original image/camera.

        Predictions are already there (``HandMeshEstimator``); the packed ground truth is in
        the crop (``MeshTopdownAffine``) when the metainfo has ``warp_mat``.
        """
        inst = data_sample.get('gt_instances' if gt else 'pred_instances')
        if inst is None:
            return []
        warp = data_sample.metainfo.get('warp_mat') if gt else None
        R = split_similarity(warp)[1] if warp is not None else np.eye(3)
        inv = invert_warp(warp) if warp is not None else np.array([[1., 0, 0], [0, 1., 0]])
        out = []
        for i in range(len(inst)):
            item = {}
            if 'vertices' in inst and (not gt or 'has_verts' not in inst
                                       or _np(inst.has_verts).reshape(-1)[i] > 0):
                item['vertices'] = _np(inst.vertices)[i].astype(np.float64) @ R
            if 'keypoints' in inst:
                item['keypoints'] = _np(inst.keypoints)[i][:, :2].astype(np.float64) @ \
                    inv[:, :2].T + inv[:, 2]
                key = 'keypoints_visible' if gt else 'keypoint_scores'
                if key in inst:
                    item['scores'] = _np(inst.get(key))[i]
            if 'bboxes' in inst:
                item['bbox'] = _np(inst.bboxes)[i]
            out.append(item)
        return out

    def _draw_panel(self, image, data_sample, gt, K, faces, draw_mesh, draw_bbox,
                    kpt_thr) -> np.ndarray:
        panel = image.copy()
        for item in self._instances_in_source(data_sample, gt):
            verts = item.get('vertices')
            if draw_mesh and verts is not None and K is not None:
                if np.isfinite(verts).all():
                    panel = self.draw_mesh(panel, verts, K, faces,
                                           self.gt_mesh_color if gt else self.mesh_color)
                else:
                    warnings.warn('HandMeshLocalVisualizer: non-finite vertices, mesh skipped')
            if draw_bbox and 'bbox' in item:
                panel = self._draw_bboxes(panel, item['bbox'])
            if 'keypoints' in item:
                panel = self.draw_hand_keypoints(panel, item['keypoints'], item.get('scores'),
                                                 0.0 if gt else kpt_thr)
        return panel

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: PoseDataSample,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       draw_heatmap: bool = False,
                       draw_bbox: bool = False,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       kpt_thr: float = 0.3,
                       step: int = 0,
                       draw_mesh: bool = True,
                       faces: Optional[Union[np.ndarray, torch.Tensor]] = None,
                       cam_K: Optional[Union[np.ndarray, torch.Tensor]] = None) -> np.ndarray:
        """Draw a data sample and show it, write it to ``out_file`` or send it to the backends.

        With both ``draw_gt`` and ``draw_pred`` the ground truth is on the left and the
        prediction on the right (as mmpose). Unlike mmpose's, ``out_file`` is written on every
        rank (distributed testing draws each rank's share); ``show`` and the backends act on
        the main process only.

        Args:
            name (str): image identifier (window title, backend tag).
            image (np.ndarray): (H, W, 3) uint8 RGB original image (the one ``img_path``
                names).
            data_sample (PoseDataSample): as ``HandMeshEstimator`` returns it.
            draw_gt (bool): draw ``gt_instances`` (mesh where ``has_verts``, visible
                keypoints).
            draw_pred (bool): draw ``pred_instances`` (mesh, keypoints with score >
                ``kpt_thr``).
            draw_heatmap (bool): accepted for mmpose's ``PoseVisualizationHook``; no heatmaps
                are drawn.
            draw_bbox (bool): draw the instances' ``bboxes``.
            show (bool): display the drawing in a window (main process).
            wait_time (float): seconds the window is shown (0: until a key is pressed).
            out_file (str, optional): write the drawing here (BGR file via mmcv) instead of
                the backends.
            kpt_thr (float): minimum ``keypoint_scores`` of a predicted keypoint to draw it.
            step (int): global step for the backends.
            draw_mesh (bool): render the meshes (needs faces and the intrinsics).
            faces (np.ndarray or torch.Tensor, optional): (F, 3) triangles for this call;
                default :attr:`faces`.
            cam_K (np.ndarray or torch.Tensor, optional): (3, 3) intrinsics of ``image``;
                default :func:`source_intrinsics`.

        Returns:
            np.ndarray: the drawn (H, W', 3) uint8 RGB image.

        Raises:
            ValueError: ``image`` is not (H, W, 3), or (with a mesh to draw) no faces are
                known.
            OSError: ``out_file`` could not be written.
        """
        image = np.ascontiguousarray(image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'image must be (H, W, 3) uint8 RGB, got shape {image.shape}')
        K = _np(cam_K).astype(np.float64) if cam_K is not None else \
            source_intrinsics(data_sample)
        pred = data_sample.get('pred_instances')
        if draw_mesh and K is None and pred is not None and 'vertices' in pred:
            warnings.warn('HandMeshLocalVisualizer: no cam_K in the data sample and none '
                          'given, mesh skipped')
        panels = [self._draw_panel(image, data_sample, gt, K, faces, draw_mesh, draw_bbox,
                                   kpt_thr)
                  for gt, on in ((True, draw_gt), (False, draw_pred)) if on]
        drawn = np.concatenate(panels, axis=1) if panels else image.copy()
        self.set_image(drawn)
        main = is_main_process()
        if show and main:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            if not mmcv.imwrite(drawn[..., ::-1], out_file):
                raise OSError(f'could not write {out_file}')
        elif main:
            self.add_image(name, drawn, step)
        return drawn
