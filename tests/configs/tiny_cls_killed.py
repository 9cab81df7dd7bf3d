# tiny_cls that dies (SIGKILL) in the middle of epoch 3, after the epoch-2 checkpoint.
_base_ = ['tiny_cls.py']
custom_imports = dict(imports=['mmhandmim', 'tests.helpers.kill_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='KillAtHook', epoch=3, iter_in_epoch=2)]
