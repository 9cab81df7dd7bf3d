"""How many CPU cores per GPU the data pipelines need, and what ``num_workers`` to set.

Measures the per-image cost of one CPU core for the paper configs' training pipelines (image
decoding included) on generated stand-in images in the real layouts, and divides by the GPU
step speed: ``cores = images/s per GPU x seconds per image per core``. The GPU speed is the
counted FLOPs of one training step per image (``torch.utils.flop_counter.FlopCounterMode``
over the forward and backward of the real model, on CPU) at a stated MFU of a stated peak
(default: 40 % of an H100's 989 TFLOPS dense bf16), unless ``--gpu-images-per-s`` gives
measured figures (``benchmarks/gpu_check.py`` prints them). A second table turns the speed
into the paper's schedules: GPU-hours and the data pipeline's CPU core-hours.

    python benchmarks/bench_data_pipeline.py [--images 48] [--mfu 0.4] [--peak-tflops 989]
        [--gpu-images-per-s pretrain-b=1200 ...]
"""
import argparse
import math
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations)
import cv2  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import default_collate, pseudo_collate  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

#: (name, config, scope, pipeline overrides); the paper's pre-training has no local crops,
#: iBOT's recipe has 10 of 96 px, measured as an option. The pre-training configs leave the
#: warps and colour changes to the GPU (``device_augment=True``): the workers only decode,
#: crop and draw parameters and masks; ``device_augment=False`` is the CPU-made views.
#: The first pipeline of a stage is the configs' own (used for the schedule table).
PIPELINES = (
    ('pre-training, 2 global views on the GPU (configs)', 'configs/handmim_vit-s.py',
     'mmpretrain', {}),
    ('pre-training, 2 global views on the CPU', 'configs/handmim_vit-s.py', 'mmpretrain',
     dict(device_augment=False)),
    ('pre-training, 2 global + 10 local on the GPU', 'configs/handmim_vit-s.py', 'mmpretrain',
     dict(num_local_views=10)),
    ('pre-training, 2 global + 10 local on the CPU', 'configs/handmim_vit-s.py', 'mmpretrain',
     dict(num_local_views=10, device_augment=False)),
    ('fine-tuning (FreiHAND)', 'configs/mesh/handmim-s_pymaf_freihand.py', 'mmpose', {}),
)
#: (key, name, config, scope, images per epoch, epochs) of the models whose step FLOPs set
#: the GPU speed; the paper's data (221,602 pre-training crops; FreiHAND's 130,240 training
#: images) and schedules (400 / 250 pre-training epochs, 100 fine-tuning)
MODELS = (
    ('pretrain-s', 'pre-training ViT-S/16', 'configs/handmim_vit-s.py', 'mmpretrain',
     221602, 400),
    ('pretrain-b', 'pre-training ViT-B/16', 'configs/handmim_vit-b.py', 'mmpretrain',
     221602, 400),
    ('pretrain-l', 'pre-training ViT-L/16', 'configs/handmim_vit-l.py', 'mmpretrain',
     221602, 250),
    ('finetune-s', 'fine-tuning ViT-S + PyMAF-MANO', 'configs/mesh/handmim-s_pymaf_freihand.py',
     'mmpose', 130240, 100),
    ('finetune-b', 'fine-tuning ViT-B + PyMAF-MANO', 'configs/mesh/handmim-b_pymaf_freihand.py',
     'mmpose', 130240, 100),
    ('finetune-l', 'fine-tuning ViT-L + PyMAF-MANO', 'configs/mesh/handmim-l_pymaf_freihand.py',
     'mmpose', 130240, 100),
)
CORES_PER_GPU_TYPICAL = 12


def generate(folder):
    from mmhandmim.standin.generation import generate_freihand, generate_unlabeled
    generate_unlabeled(os.path.join(folder, 'crops'), num=64, img_size=256, progress=False)
    generate_freihand(os.path.join(folder, 'freihand'), num_train=16, num_eval=4,
                      img_size=224, versions=4, progress=False)
    return dict(mmpretrain=os.path.join(folder, 'crops'),
                mmpose=os.path.join(folder, 'freihand'))


def build_dataset(config, scope, data_root, view_overrides=None):
    cfg = Config.fromfile(os.path.join(ROOT, config))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = data_root
    if scope == 'mmpose':
        ds_cfg.image_versions = ('gs', 'hom', 'sample', 'auto')
    for t in ds_cfg.pipeline:
        if t['type'] == 'HandMultiView':
            t.update(view_overrides or {})
    registry = __import__(f'{scope}.registry', fromlist=['DATASETS']).DATASETS
    with DefaultScope.overwrite_default_scope(scope):
        return cfg, registry.build(ds_cfg)


def seconds_per_image(ds, images):
    """Median-free mean over ``images`` samples after 4 warm-up ones, one core."""
    for i in range(4):
        ds[i % len(ds)]
    start = time.process_time()
    for i in range(images):
        ds[(i + 4) % len(ds)]
    return (time.process_time() - start) / images


def step_flops_per_image(config, scope, data_root):
    """FLOPs of one training step (forward + backward) per image, counted on CPU, batch 1."""
    from gpu_check_parts import flop_counter  # counts CPU fused attention too, as gpu_check
    registry = __import__(f'{scope}.registry', fromlist=['MODELS']).MODELS
    cfg, ds = build_dataset(config, scope, data_root)
    if scope == 'mmpose':
        cfg.model.head.mano.model_path = 'standin'
        cfg.model.backbone.init_cfg = None
        cfg.model.head.setdefault('mean_params', None)
        cfg.model.head.mean_params = None
    with DefaultScope.overwrite_default_scope(scope):
        model = registry.build(cfg.model)
    model.train()
    collate = default_collate if scope == 'mmpretrain' else pseudo_collate  # as the configs
    data = model.data_preprocessor(collate([ds[0]]), True)
    with flop_counter() as counter:
        losses = model(**data, mode='loss')
        sum(v for k, v in losses.items() if k.startswith('loss')).backward()
    return counter.get_total_flops()


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=48, help='samples timed per pipeline')
    p.add_argument('--mfu', type=float, default=0.4, help='assumed model FLOPs utilisation')
    p.add_argument('--peak-tflops', type=float, default=989.0,
                   help='dense bf16 peak of the GPU (H100/H200 SXM: 989)')
    p.add_argument('--gpu-images-per-s', nargs='+', default=[], metavar='KEY=RATE',
                   help='measured GPU training images/s per GPU (benchmarks/gpu_check.py) '
                   'instead of the MFU estimate, e.g. pretrain-b=1200 finetune-s=5000; keys: '
                   + ', '.join(m[0] for m in MODELS))
    args = p.parse_args(argv)
    keys, args.measured = {m[0] for m in MODELS}, {}
    for item in args.gpu_images_per_s:
        key, _, value = item.partition('=')
        try:
            rate = float(value)
        except ValueError:
            rate = -1.
        if key not in keys or rate <= 0:
            p.error(f'--gpu-images-per-s {item!r}: expected KEY=RATE with KEY one of '
                    f'{", ".join(sorted(keys))} and RATE > 0 images/s')
        args.measured[key] = rate
    return args


def print_tables(args, costs, flops):
    rate = args.mfu * args.peak_tflops * 1e12
    print(f'\nGPU speed: measured where given (--gpu-images-per-s), else {args.mfu:.0%} MFU '
          f'of {args.peak_tflops:.0f} TFLOPS; FLOPs counted with FlopCounterMode over one '
          'training step (forward + backward), batch 1')
    print('| model | pipeline | GFLOP per image per step | GPU images/s | ms per image per '
          'core | cores per GPU | num_workers |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    stage = lambda name: name.split(',')[0].split()[0]  # noqa: E731  'pre-training', ...
    ips = {}
    for key, name, *_ in MODELS:
        ips[key] = args.measured.get(key, rate / flops[key])
        src = ' (measured)' if key in args.measured else ''
        for pipe in (p for p in costs if stage(p) == stage(name)):
            cores = ips[key] * costs[pipe]
            flag = ' (more than a typical node has)' if cores > CORES_PER_GPU_TYPICAL else ''
            print(f'| {name} | {pipe} | {flops[key] / 1e9:.1f} | {ips[key]:.0f}{src} | '
                  f'{costs[pipe] * 1e3:.1f} | {cores:.1f}{flag} | {math.ceil(cores)} |')
    print('\nThe paper\'s schedules at that speed (GPU-hours = images x epochs / images/s; '
          'the pipeline\'s CPU core-hours with its first pipeline of the stage):')
    print('| model | images x epochs | GPU-hours | hours on 8 GPUs | data core-hours |')
    print('| --- | --- | --- | --- | --- |')
    for key, name, _, _, images, epochs in MODELS:
        pipe = next(p for p in costs if stage(p) == stage(name))
        gpu_h = images * epochs / ips[key] / 3600
        print(f'| {name} | {images:,} x {epochs} | {gpu_h:.1f} | {gpu_h / 8:.2f} | '
              f'{images * epochs * costs[pipe] / 3600:.0f} |')


def main(argv=None):
    args = parse_args(argv)
    # one core: what one data worker costs (a worker limits its BLAS/OpenMP pools the same
    # way, mmhandmim.utils.worker_threads; without it idle OpenBLAS threads spin and double
    # the CPU time of the pre-training pipeline)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    threadpool_limits(limits=1)
    with tempfile.TemporaryDirectory() as tmp:
        roots = generate(tmp)
        costs = {}
        for name, config, scope, overrides in PIPELINES:
            costs[name] = seconds_per_image(build_dataset(config, scope, roots[scope],
                                                          overrides)[1], args.images)
            print(f'{name}: {costs[name] * 1e3:.1f} ms per image per core', flush=True)
        flops = {key: step_flops_per_image(config, scope, roots[scope])
                 for key, _, config, scope, *_ in MODELS}
    print_tables(args, costs, flops)


if __name__ == '__main__':
    main()
