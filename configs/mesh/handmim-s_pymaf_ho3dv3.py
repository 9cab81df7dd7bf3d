# HandMIM-S fine-tuned and tested on HO3D v3 (jpg images, 83,325 training / 20,137 evaluation
# images) instead of v2; everything else as handmim-s_pymaf_ho3d.py.
# Paper: no number (the paper reports HO3D v2 only, Table 2). Testing writes
# work_dirs/handmim-s_pymaf_ho3dv3/submission/pred.zip for the HO3D v3 Codalab server.
# Status: not yet trained on real data.
# Batch: 16 per GPU x 8 GPUs = 128 in total (the paper's fine-tuning batch); on other
# GPU counts keep the total (train_dataloader.batch_size) or pass --auto-scale-lr.
_base_ = ['./handmim-s_pymaf_ho3d.py']
data_root = 'data/ho3d_v3/'
train_dataloader = dict(dataset=dict(data_root=data_root, version='v3'))
test_dataloader = dict(dataset=dict(data_root=data_root, version='v3'))
test_evaluator = dict(outfile_dir='work_dirs/{{fileBasenameNoExtension}}/submission')
