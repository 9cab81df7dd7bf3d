"""Top-down hand mesh estimator: any registered backbone + a mesh head (PyMAF-MANO).

mmpose's ``TopdownPoseEstimator`` does the plumbing (data preprocessor, backbone, neck,
``loss``/``predict``); this subclass passes the crop intrinsics to the head and writes the
predictions back in the *original* image and camera frame: 2D keypoints through the inverse
crop warp (exact, rotation included), 3D points rotated back by the crop's camera rotation.
"""
from typing import List, Optional, Tuple

import numpy as np
from mmengine.structures import InstanceData, PixelData
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

from ...structures import crop_to_source


@MODELS.register_module()
class HandMeshEstimator(TopdownPoseEstimator):
    """Top-down hand mesh estimator that writes its predictions in the original frame.

    Writes ``pred_instances`` with ``keypoints`` (1,21,2) image pixels,
    ``keypoints_3d`` (1,21,3) and ``vertices`` (1,778,3) in metres in the dataset's camera
    frame, ``mano_pose`` (1,48) axis-angle (dataset convention), ``mano_betas``, ``cam``,
    ``cam_t``; and ``keypoints_crop`` (1,21,2) in input-crop pixels.

    Its arguments are those of mmpose's ``TopdownPoseEstimator`` (``backbone``, ``head``,
    ...).
    """

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Layer depth of a parameter for mmpretrain's ``LearningRateDecayOptimWrapperConstructor``.

        The backbone numbers its own layers, everything else (head) is the top layer.

        Args:
            param_name (str): full name of the parameter (``prefix`` included).
            prefix (str): prefix of the estimator's parameter names (the backbone's start with
                ``prefix + 'backbone.'``).

        Returns:
            Tuple[int, int]: (depth, number of depths).

        Raises:
            NotImplementedError: the backbone has no ``get_layer_depth`` (layer-wise lr decay
                needs a backbone that numbers its layers, e.g. mmpretrain's ViT).
        """
        if not hasattr(self.backbone, 'get_layer_depth'):
            raise NotImplementedError(
                f'{type(self.backbone).__name__} has no get_layer_depth(); layer-wise lr '
                'decay needs a backbone that numbers its layers (mmpretrain ViT)')
        return self.backbone.get_layer_depth(param_name, prefix + 'backbone.')

    def _forward(self, inputs, data_samples=None):
        feats = self.extract_feat(inputs)
        K = self.head._labels(data_samples, 'cam_K')
        return self.head.forward(feats, K)

    def add_pred_to_datasample(self, batch_pred_instances: List[InstanceData],
                               batch_pred_fields: Optional[List[PixelData]],
                               batch_data_samples: List[PoseDataSample]) -> List[PoseDataSample]:
        """Store the predictions, moved to the original image and camera frame, in the samples.

        2D keypoints go through the inverse of the sample's crop warp (``warp_mat``), the
        crop-pixel ones are kept as ``keypoints_crop``; ``keypoints_3d``, ``vertices`` and
        ``cam_t`` are rotated back by the crop's camera rotation. The boxes and box scores are
        the ground-truth instances'.

        Args:
            batch_pred_instances (List[InstanceData]): the head's predictions, one per sample.
            batch_pred_fields (List[PixelData], optional): not used.
            batch_data_samples (List[PoseDataSample]): the batch's samples.

        Returns:
            List[PoseDataSample]: the samples, with ``pred_instances`` set.
        """
        for pred, ds in zip(batch_pred_instances, batch_data_samples):
            warp = np.asarray(ds.metainfo['warp_mat'], np.float64)
            keys = ('keypoints_3d', 'vertices', 'cam_t')
            back = crop_to_source(warp, pred.keypoints, **{k: pred.get(k) for k in keys})
            pred.keypoints_crop = pred.keypoints.copy()
            pred.keypoints = back['keypoints_2d'].astype(np.float32)
            for key in keys:
                pred.set_field(back[key].astype(np.float32), key)
            pred.bboxes = ds.gt_instances.bboxes
            pred.bbox_scores = ds.gt_instances.bbox_scores
            ds.pred_instances = pred
        return batch_data_samples
