# configs/handmim_vit-b.py plus a hook that saves each rank's teacher centres (the test
# shrinks the model and data with --cfg-options, as a user would for a smoke run).
_base_ = ['../../configs/handmim_vit-b.py']
custom_imports = dict(imports=['mmhandmim', 'tests.helpers.dump_hooks'],
                      allow_failed_imports=False)
custom_hooks = [
    dict(type='TeacherEMAHook', momentum=0.996, end_momentum=1.0),
    dict(type='TeacherTempHook', warmup_temp=0.04, temp=0.07, warmup_epochs=30),
    dict(type='FreezeLastLayerHook', freeze_epochs=1),
    dict(type='DumpCentresHook'),
]
