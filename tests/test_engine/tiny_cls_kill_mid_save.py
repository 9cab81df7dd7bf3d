# tests/configs/tiny_cls.py keeping one checkpoint (max_keep_ckpts=1, the case where mmengine
# deletes the previous checkpoint before writing the new one) and killed (SIGKILL) halfway
# through writing the epoch-3 checkpoint.
_base_ = ['../configs/tiny_cls.py']
custom_imports = dict(imports=['mmhandmim', 'tests.test_engine.kill_mid_save'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='KillMidSaveHook', epoch=3)]
train_cfg = dict(val_interval=100)
default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=1))
