"""Top-down hand mesh estimator: any registered backbone + a mesh head (PyMAF-MANO).

mmpose's ``TopdownPoseEstimator`` does the plumbing (data preprocessor, backbone, neck,
``loss``/``predict``); this subclass passes the crop intrinsics to the head and writes the
predictions back in the *original* image and camera frame: 2D keypoints through the inverse
crop warp (exact, rotation included), 3D points rotated back by the crop's camera rotation.
"""
import numpy as np
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS

from ...datasets.transforms.camera_geometry import split_similarity


def _inverse_warp(warp):
    A = np.vstack([warp, [0, 0, 1]])
    return np.linalg.inv(A)[:2]


@MODELS.register_module()
class HandMeshEstimator(TopdownPoseEstimator):
    """Writes ``pred_instances`` with ``keypoints`` (1,21,2) image pixels,
    ``keypoints_3d`` (1,21,3) and ``vertices`` (1,778,3) in metres in the dataset's camera
    frame, ``mano_pose`` (1,48) axis-angle (dataset convention), ``mano_betas``, ``cam``,
    ``cam_t``; and ``keypoints_crop`` (1,21,2) in input-crop pixels."""

    def get_layer_depth(self, param_name, prefix=''):
        """(depth, number of depths) of a parameter for mmpretrain's
        ``LearningRateDecayOptimWrapperConstructor``: the backbone numbers its own layers,
        everything else (head) is the top layer."""
        if not hasattr(self.backbone, 'get_layer_depth'):
            raise NotImplementedError(
                f'{type(self.backbone).__name__} has no get_layer_depth(); layer-wise lr '
                'decay needs a backbone that numbers its layers (mmpretrain ViT)')
        return self.backbone.get_layer_depth(param_name, prefix + 'backbone.')

    def _forward(self, inputs, data_samples=None):
        feats = self.extract_feat(inputs)
        K = self.head._labels(data_samples, 'cam_K')
        return self.head.forward(feats, K)

    def add_pred_to_datasample(self, batch_pred_instances, batch_pred_fields,
                               batch_data_samples):
        for pred, ds in zip(batch_pred_instances, batch_data_samples):
            warp = np.asarray(ds.metainfo['warp_mat'], np.float64)
            _, R = split_similarity(warp)
            inv = _inverse_warp(warp)
            pred.keypoints_crop = pred.keypoints.copy()
            pred.keypoints = (pred.keypoints @ inv[:, :2].T + inv[:, 2]).astype(np.float32)
            # crop camera = original camera rotated by R: x_orig = R^T x_crop
            for key in ('keypoints_3d', 'vertices', 'cam_t'):
                pred.set_field((pred.get(key) @ R).astype(np.float32), key)
            pred.bboxes = ds.gt_instances.bboxes
            pred.bbox_scores = ds.gt_instances.bbox_scores
            ds.pred_instances = pred
        return batch_data_samples
