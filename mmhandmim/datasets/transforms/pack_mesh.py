"""Pack a mesh sample into a ``PoseDataSample`` with everything the head and metric need."""
import numpy as np
from mmpose.datasets.transforms import PackPoseInputs
from mmpose.registry import TRANSFORMS

#: 3D and camera targets; as tensors in ``gt_instance_labels`` (losses) and as arrays in
#: ``gt_instances`` (metrics, submission writers)
MESH_KEYS = ('keypoints_3d', 'vertices', 'mano_pose', 'mano_betas', 'mano_trans', 'cam_K',
             'has_3d', 'has_mano', 'has_verts', 'hand_scale', 'root_joint')


@TRANSFORMS.register_module()
class PackMeshInputs(PackPoseInputs):
    """``PackPoseInputs`` plus the 3D targets, the crop's intrinsics and the crop warp."""

    instance_mapping_table = dict(PackPoseInputs.instance_mapping_table,
                                  **{k: k for k in MESH_KEYS})
    # labels are float32 copies made in transform() (``<key>_label`` -> ``<key>``)
    label_mapping_table = dict(PackPoseInputs.label_mapping_table,
                               **{f'{k}_label': k for k in MESH_KEYS + ('keypoints_2d', )})

    def __init__(self, meta_keys=('id', 'img_id', 'img_path', 'category_id', 'ori_shape',
                                  'img_shape', 'input_size', 'input_center', 'input_scale',
                                  'warp_mat', 'sample_idx', 'hand_side', 'flip',
                                  'flip_direction'), **kwargs):
        super().__init__(meta_keys=meta_keys, **kwargs)

    def transform(self, results):
        if 'keypoints' in results:
            # 2D targets in input-image pixels for the reprojection loss
            results['keypoints_2d'] = results['keypoints']
        for key in MESH_KEYS + ('keypoints_2d', ):
            if key in results:
                results[f'{key}_label'] = np.asarray(results[key], np.float32)
        return super().transform(results)
