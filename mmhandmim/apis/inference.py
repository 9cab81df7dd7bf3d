"""Inference API: build a hand mesh estimator from a config, and estimate hands in boxes.

Mirrors mmpose's ``init_model`` / ``inference_topdown``: every box of an image goes through the
model's own test pipeline (crop with ``MeshTopdownAffine``, which also moves the camera K into
the crop) and all crops run in one batched ``test_step``; the results come back in the
*original* image and camera frame.

Left hands: the model estimates right hands, so a left hand is estimated on the horizontally
flipped image and mirrored back. With continuous pixel coordinates (pixel i spans [i, i+1)),
flipping maps ``u -> W - u``, and a camera point (X, Y, Z) seen with K is the point
(-X, Y, Z) seen in the flipped image with ``K' = F K diag(-1, 1, 1)``, ``F: u -> W - u``
(``cx' = W - cx``); so the model gets K', and X of its 3D outputs is negated.
"""
import copy
import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from torch import nn

from .checks import (InferenceInputError, check_bboxes, check_cam_K, check_hand_sides,
                     load_image)

if TYPE_CHECKING:
    from mmengine.config import Config

#: default focal length as a multiple of the image's longer side: a ~23 degree field of view,
#: the narrow view of hand-centred crops as in FreiHAND (focal lengths a few times the 224 px
#: side). Pass the real K for full-frame photos (a phone's main camera has f of about
#: 0.8-1.0 x the longer side); it only changes the hand's depth, not its shape.
DEFAULT_FOCAL_FACTOR = 2.5


def default_intrinsics(image_shape: Sequence[int]) -> np.ndarray:
    """Default K of an image: a narrow field of view, principal point at the image centre.

    Args:
        image_shape (Sequence[int]): ``(H, W, ...)`` of the image.

    Returns:
        np.ndarray: (3, 3) K with focal ``DEFAULT_FOCAL_FACTOR * max(H, W)`` pixels (square
        pixels, no skew), principal point at the image centre ``(W / 2, H / 2)``.
    """
    H, W = image_shape[:2]
    f = DEFAULT_FOCAL_FACTOR * max(H, W)
    return np.array([[f, 0.0, W / 2.0], [0.0, f, H / 2.0], [0.0, 0.0, 1.0]])


def mirror_intrinsics(K: Union[np.ndarray, Sequence], width: float) -> np.ndarray:
    """K of the horizontally flipped image, for the x-mirrored camera frame (see module doc).

    Args:
        K (np.ndarray or Sequence): (3, 3) intrinsics of the original image.
        width (float): W of the image.

    Returns:
        np.ndarray: (3, 3) float64 ``K' = F K diag(-1, 1, 1)``, ``F: u -> W - u``.
    """
    flip = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    return flip @ np.asarray(K, np.float64) @ np.diag([-1.0, 1.0, 1.0])


def _load_config(config, cfg_options):
    from mmengine.config import Config
    if isinstance(config, (str, os.PathLike)):
        if not os.path.isfile(config):
            raise FileNotFoundError(f'config file not found: {os.fspath(config)!r}')
        cfg = Config.fromfile(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, dict):
        cfg = Config(copy.deepcopy(config))
    else:
        raise InferenceInputError(f'config must be a path, a Config or a dict, got '
                                  f'{type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if 'model' not in cfg:
        raise InferenceInputError('the config has no `model`')
    return cfg


def init_mesh_model(config: Union[str, os.PathLike, 'Config', dict],
                    checkpoint: Optional[Union[str, os.PathLike]] = None,
                    device: Union[str, torch.device] = 'cpu',
                    cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a hand mesh estimator (``HandMeshEstimator``) in eval mode.

    The config is kept as ``model.cfg``.

    Args:
        config (str or os.PathLike or Config or dict): config path, ``mmengine.Config`` or
            dict (with ``model`` and, for inference, a test pipeline; see
            :func:`inference_pipeline_cfg`).
        checkpoint (str or os.PathLike, optional): ``.pth`` whose ``state_dict`` must match
            the model exactly; None keeps the random initialisation.
        device (str or torch.device): e.g. 'cpu' or 'cuda:0'.
        cfg_options (dict, optional): dict of config overrides (``--cfg-options`` style
            keys).

    Returns:
        nn.Module: the model (built in the mmpose scope), on ``device``, in eval mode.

    Raises:
        FileNotFoundError: the config or checkpoint file does not exist.
        InferenceInputError: the config is of another type or has no ``model``, or the
            checkpoint does not match the model.
    """
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint
    from mmpose.registry import MODELS

    cfg = _load_config(config, cfg_options)
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = revert_sync_batchnorm(MODELS.build(cfg.model))
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint not found: {os.fspath(checkpoint)!r}')
        try:
            load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
        except RuntimeError as exc:  # key or shape mismatch: another model's checkpoint
            raise InferenceInputError(f'checkpoint {os.fspath(checkpoint)!r} does not match '
                                      f'the config\'s model: {exc}') from None
    model.cfg = cfg
    return model.to(device).eval()


def inference_pipeline_cfg(cfg: 'Config') -> List[dict]:
    """The test pipeline of a config.

    Args:
        cfg (Config): the model's config.

    Returns:
        List[dict]: (a copy of) ``test_dataloader.dataset(.dataset...).pipeline``, else
        ``test_pipeline``, else the standard one for the head's ``input_size``.
    """
    ds = (cfg.get('test_dataloader') or {}).get('dataset')
    while isinstance(ds, dict):
        if ds.get('pipeline'):
            return copy.deepcopy(ds['pipeline'])
        ds = ds.get('dataset')
    if cfg.get('test_pipeline'):
        return copy.deepcopy(cfg['test_pipeline'])
    size = tuple(cfg.model.head.get('input_size', (224, 224)))
    return [dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.0),
            dict(type='MeshTopdownAffine', input_size=size), dict(type='PackMeshInputs')]


def _mirror_back(hand, width):
    """Mirror a right-hand estimate of the flipped image back to the original (left hand)."""
    hand['keypoints'][:, 0] = width - hand['keypoints'][:, 0]
    for key in ('keypoints_3d', 'vertices'):
        hand[key][:, 0] *= -1
    hand['cam_t'][0] *= -1
    hand['cam'][1] *= -1  # weak-perspective tx: the crop is mirrored about its centre
    # negated x flips the triangles' orientation: reverse the winding to keep normals outward
    hand['faces'] = np.ascontiguousarray(hand['faces'][:, ::-1])
    return hand


def _unpack(pred, faces):
    first = lambda key: np.array(pred.get(key)[0], np.float32)  # noqa: E731  (a copy)
    return dict(keypoints=first('keypoints'), keypoints_3d=first('keypoints_3d'),
                vertices=first('vertices'), mano_pose=first('mano_pose'),
                mano_betas=first('mano_betas'), cam=first('cam'), cam_t=first('cam_t'),
                faces=faces.copy())


def inference_mesh_model(model: nn.Module, img: Union[str, os.PathLike, np.ndarray],
                         bboxes: Optional[Union[np.ndarray, Sequence]] = None,
                         hand_sides: Optional[Union[str, bool, Sequence]] = None,
                         cam_K: Optional[Union[np.ndarray, Sequence]] = None,
                         batch_size: int = 32,
                         detector: Any = None) -> List[Dict[str, Any]]:
    """Estimate a hand mesh in each box of one image (or in each hand a detector finds).

    Args:
        model (nn.Module): from :func:`init_mesh_model` (uses ``model.cfg``'s test
            pipeline).
        img (str or os.PathLike or np.ndarray): image path, or (H, W, 3) BGR uint8 array.
        bboxes (np.ndarray or Sequence, optional): (N, 4) boxes ``x1, y1, x2, y2`` in pixels
            (a single box may be (4,)); None: the whole image is one box; an empty (0, 4)
            array: no hands, [].
        hand_sides (str or bool or Sequence, optional): None (all right hands), one flag for
            all boxes, or one per box; a flag is 'left' / 'right' or a bool meaning *is
            left*.
        cam_K (np.ndarray or Sequence, optional): (3, 3) intrinsics of the original image;
            None: :func:`default_intrinsics`.
        batch_size (int): crops per forward pass.
        detector (HandDetector or bool, optional): with ``bboxes=None``, find the hands and
            their sides with this :class:`~mmhandmim.apis.hand_detection.HandDetector`
            (True: a default one, built and closed here; reuse one over many images) instead
            of taking the whole image as one hand; ``hand_sides`` still overrides the
            detected sides. Each result then has ``detection_score`` (handedness score).

    Returns:
        List[Dict[str, Any]]: one dict per box, in box order, everything in the original
        image and camera frame (OpenCV: x right, y down, z forward; metres; continuous pixel
        coordinates): ``bbox`` (4,), ``hand_side``, ``keypoints`` (21, 2) pixels, ``keypoints_3d``
        (21, 3), ``vertices`` (778, 3), ``faces`` (F, 3) with outward winding for this
        hand (reversed for left hands), ``cam_t`` (3,) root joint position, ``cam`` (3,)
        the weak-perspective (s, tx, ty) of the crop, ``cam_K`` (3, 3) the K used,
        ``mano_pose`` (48,) axis-angle and ``mano_betas`` (10,) in the datasets' MANO
        convention. For left hands ``mano_pose``/``mano_betas`` are the *right-hand*
        model's parameters of the mirrored hand (what the model estimated); the left MANO
        model's pose is that with the y and z components of every joint's axis-angle
        negated (MANO's left hand is the x-mirror of its right hand).

    Raises:
        InferenceInputError: the model has no ``cfg``, ``batch_size`` < 1, or a bad image,
            box, hand side or K (see ``apis.checks``).
        FileNotFoundError: the image path is not a file.
    """
    from mmcv.transforms import Compose
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DefaultScope

    if not hasattr(model, 'cfg'):
        raise InferenceInputError('model has no .cfg: build it with init_mesh_model()')
    batch_size = int(batch_size)
    if batch_size < 1:
        raise InferenceInputError(f'batch_size must be >= 1, got {batch_size}')
    image, path = load_image(img)
    H, W = image.shape[:2]
    scores = None
    if bboxes is None and detector is not None and detector is not False:
        found = _detect(detector, image)
        bboxes = np.array([h.bbox for h in found], np.float64).reshape(-1, 4)
        scores = [h.score for h in found]
        if hand_sides is None:
            hand_sides = [h.side for h in found]
    boxes = check_bboxes(bboxes, (H, W))
    sides = check_hand_sides(hand_sides, len(boxes))
    K = default_intrinsics((H, W)) if cam_K is None else check_cam_K(cam_K)
    left = np.array([s == 'left' for s in sides], bool)
    flipped = np.ascontiguousarray(image[:, ::-1]) if left.any() else None
    K_flip = mirror_intrinsics(K, W)
    # left boxes in the flipped image: x1' = W - x2, x2' = W - x1
    model_boxes = np.where(left[:, None], np.stack([W - boxes[:, 2], boxes[:, 1],
                                                    W - boxes[:, 0], boxes[:, 3]], 1), boxes)
    samples = [dict(img=flipped if is_left else image, img_path=path,
                    bbox=box[None].astype(np.float32), bbox_score=np.ones(1, np.float32),
                    cam_K=(K_flip if is_left else K)[None], hand_side=side)
               for box, is_left, side in zip(model_boxes, left, sides)]
    with DefaultScope.overwrite_default_scope('mmpose'):
        pipeline = Compose(inference_pipeline_cfg(model.cfg))
        preds = []
        for start in range(0, len(samples), batch_size):
            batch = pseudo_collate([pipeline(s) for s in samples[start:start + batch_size]])
            with torch.no_grad():
                preds += [ds.pred_instances for ds in model.test_step(batch)]
    faces = model.head.mano.faces.detach().cpu().numpy()
    hands = []
    for pred, box, is_left, side in zip(preds, boxes, left, sides):
        hand = _unpack(pred, faces)
        if is_left:
            hand = _mirror_back(hand, W)
        hand.update(bbox=box.astype(np.float32), hand_side=side, cam_K=K.copy())
        hands.append(hand)
    for hand, score in zip(hands, scores or ()):
        hand['detection_score'] = float(score)
    return hands


def _detect(detector, image):
    """Hands of ``image`` from a HandDetector, or from a default one when ``detector`` is
    True (built and closed here)."""
    if detector is True:
        from .hand_detection import detect_hands
        return detect_hands(image)
    if not callable(detector):
        raise InferenceInputError(f'detector must be a HandDetector (or True for a default '
                                  f'one), got {type(detector).__name__}')
    return detector(image)
