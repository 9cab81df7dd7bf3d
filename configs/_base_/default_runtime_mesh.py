# Runtime for mesh fine-tuning and evaluation: mmpose's runtime (default_scope='mmpose')
# plus mmhandmim's registrations and resumable random state.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmhandmim'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_last=True),
    rng_state=dict(type='RNGStateHook'),
    # a NaN/inf loss stops training before the optimizer step ('skip': drop that step
    # and go on); default_hooks, not custom_hooks, so configs that set their own
    # custom_hooks list keep it
    finite_loss=dict(type='FiniteLossHook', on_nonfinite='raise'),
    # replaces mmpose's PoseVisualizationHook; tools/test.py --show-dir enables it
    visualization=dict(type='MeshVisualizationHook', enable=False),
)
# mmpose's PoseLocalVisualizer plus the mesh overlay
visualizer = dict(type='HandMeshLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')],
                  name='visualizer')
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
