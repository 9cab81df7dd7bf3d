# Runtime for mesh fine-tuning and evaluation: mmpose's runtime (default_scope='mmpose')
# plus mmhandmim's registrations and resumable random state.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmhandmim'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=3, save_last=True),
    rng_state=dict(type='RNGStateHook'),
)
randomness = dict(seed=0, diff_rank_seed=False, deterministic=False)
