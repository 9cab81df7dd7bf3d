"""What limits mesh learning on generated data: how much of the pose the 2D keypoints carry,
and how fast 2D keypoints are learned from the images at this scale.

    python benchmarks/mesh_learnability.py --data DIR [--steps 1500] [--threads 2]

``DIR`` is a generated FreiHAND-layout set, e.g. ``work_dirs/mesh_learning/data/freihand_2048``
(``benchmarks/mesh_learning.py``) or one from
``tools/dataset_converters/generate_standin_data.py freihand``. Both parts use the crops the
mesh configs see (64 px, ``MeshTopdownAffine``, no augmentation) and score on the held-out
split. Prints:

1. **Lifting from ground-truth 2D keypoints**: an MLP maps each training crop's 2D keypoints
   (centred, scale-normalised) to root-relative 3D joints; held-out PA-MPJPE with Gaussian
   noise of 0-4 px per coordinate added to the 2D input (train and test), next to the
   constant hand. What a perfect image -> 2D stage plus lifting reaches with this many frames,
   and how 2D error costs 3D error.
2. **2D keypoints from the images** with a reference fully convolutional heatmap network (a
   small U-Net, output stride 2, ``KeypointHeatmapLoss``): held-out mean 2D error (pixels of
   the 64 px crop, soft-argmax) every 250 steps. How fast a network with a convolutional
   inductive bias learns the 2D stage on these images; the mesh estimator's ViT must learn the
   same thing from scratch.
"""
import argparse
import json
import os.path as osp
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

CROP = 64


def log(msg):
    print(f'[learnability {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def load_crops(root, split, versions, limit=None):
    """Packed 64 px crops of a FreiHAND-layout split: images (N, 3, 64, 64) uint8-valued
    float, 2D keypoints (N, 21, 2) crop pixels, 3D keypoints (N, 21, 3) metres."""
    from mmpose.registry import DATASETS
    with open(osp.join(root, 'standin_info.json')) as f:
        img_size = json.load(f)['image_size'][0]
    pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.0),
                dict(type='MeshTopdownAffine', input_size=(CROP, CROP)),
                dict(type='PackMeshInputs')]
    ds = DATASETS.build(dict(type='FreiHANDMeshDataset', data_root=root, split=split,
                             image_size=img_size, image_versions=versions, pipeline=pipeline))
    n = len(ds) if limit is None else min(limit, len(ds))
    imgs, kp2d, kp3d = [], [], []
    for i in range(n):
        s = ds[i]
        imgs.append(s['inputs'].float())
        kp2d.append(torch.as_tensor(s['data_samples'].gt_instance_labels['keypoints_2d'][0]))
        kp3d.append(np.asarray(s['data_samples'].gt_instances.keypoints_3d[0]))
    return torch.stack(imgs), torch.stack(kp2d).float(), np.stack(kp3d).astype(np.float64)


def pa_mpjpe_mm(pred, gt):
    from mmhandmim.evaluation.functional import procrustes_align
    return float(np.linalg.norm(procrustes_align(pred, gt) - gt, axis=-1).mean() * 1000)


def constant_hand_mm(gt):
    from mmpose.registry import MODELS
    mano = MODELS.build(dict(type='MANOLayer', model_path='standin', keypoint_order='freihand'))
    with torch.no_grad():
        k = mano(mano.pose_to_rotmat(torch.zeros(1, 48)), torch.zeros(1, 10))['keypoints']
    return pa_mpjpe_mm(np.repeat(k.double().numpy(), len(gt), 0), gt)


# --- 1. lifting from ground-truth 2D ------------------------------------------------------
def normalise_2d(kp):
    c = kp.mean(1, keepdim=True)
    s = (kp - c).norm(dim=-1).mean(1)[:, None, None].clamp(min=1e-6)
    return ((kp - c) / s).flatten(1), s


def lifting(tr2d, tr3d, ev2d, ev3d, noise_px, steps=2000, seed=0):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    target = torch.as_tensor((tr3d - tr3d[:, :1]) * 10, dtype=torch.float32).flatten(1)
    net = nn.Sequential(nn.Linear(42, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                        nn.Linear(512, 63))
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(steps):
        i = torch.randint(0, len(tr2d), (256, ), generator=g)
        x = tr2d[i] + noise_px * torch.randn(len(i), 21, 2, generator=g)
        loss = (net(normalise_2d(x)[0]) - target[i]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    x = ev2d + noise_px * torch.randn(ev2d.shape, generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        pred = net(normalise_2d(x)[0]).double().numpy().reshape(-1, 21, 3) / 10
    return pa_mpjpe_mm(pred, ev3d - ev3d[:, :1])


# --- 2. a reference heatmap network --------------------------------------------------------
def _cbr(i, o, stride=1):
    return nn.Sequential(nn.Conv2d(i, o, 3, stride, 1, bias=False), nn.BatchNorm2d(o),
                         nn.ReLU(inplace=True))


class SmallUNet(nn.Module):
    """64 px -> 21 heatmaps at 32 x 32 (encoder to 4 x 4, skip connections)."""

    def __init__(self):
        super().__init__()
        self.enc = nn.ModuleList([nn.Sequential(_cbr(3, 32, 2), _cbr(32, 32)),
                                  nn.Sequential(_cbr(32, 64, 2), _cbr(64, 64)),
                                  nn.Sequential(_cbr(64, 128, 2), _cbr(128, 128)),
                                  nn.Sequential(_cbr(128, 128, 2), _cbr(128, 128))])
        self.dec = nn.ModuleList([_cbr(256, 64), _cbr(128, 64), _cbr(96, 32)])
        self.out = nn.Conv2d(32, 21, 1)

    def forward(self, x):
        skips = []
        for stage in self.enc:
            x = stage(x)
            skips.append(x)
        y = skips.pop()
        for stage in self.dec:
            y = stage(torch.cat([F.interpolate(y, scale_factor=2.0), skips.pop()], 1))
        return self.out(y)


def soft_argmax_px(logits):
    h, w = logits.shape[-2:]
    p = torch.softmax(logits.flatten(2), -1).view(*logits.shape)
    xs = (torch.arange(w, dtype=p.dtype) + 0.5) * (CROP / w)
    ys = (torch.arange(h, dtype=p.dtype) + 0.5) * (CROP / h)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


def heatmap_reference(tr_img, tr2d, ev_img, ev2d, steps, seed=0, batch=32):
    from mmhandmim.models.mesh.losses import KeypointHeatmapLoss
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    mean = torch.tensor([123.675, 116.28, 103.53]).view(1, 3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(1, 3, 1, 1)
    norm = lambda x: (x.flip(1) - mean) / std  # noqa: E731  (BGR -> RGB, as the configs)
    net, crit = SmallUNet(), KeypointHeatmapLoss(sigma=1.0)   # 1 cell = 2 px
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=1e-3, total_steps=steps,
                                                pct_start=0.05)
    ones = torch.ones(batch)
    curve, t0 = [], time.time()
    for s in range(steps):
        i = torch.randint(0, len(tr_img), (batch, ), generator=g)
        loss = crit(net(norm(tr_img[i])), tr2d[i], (CROP, CROP), ones)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (s + 1) % 250 == 0 or s + 1 == steps:
            net.eval()
            with torch.no_grad():
                err = torch.cat([(soft_argmax_px(net(norm(ev_img[j:j + 64]))) -
                                  ev2d[j:j + 64]).norm(dim=-1).mean(1)
                                 for j in range(0, len(ev_img), 64)]).mean().item()
            net.train()
            curve.append((s + 1, err))
            log(f'  heatmap U-Net step {s + 1}: train KL {loss.item():.3f}, held-out 2D error '
                f'{err:.2f} px ({time.time() - t0:.0f} s)')
    return curve


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', required=True, help='generated FreiHAND-layout folder')
    parser.add_argument('--steps', type=int, default=1500, help='heatmap network steps')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--noise', type=float, nargs='+', default=[0.0, 1.0, 2.0, 4.0],
                        help='2D noise (px per coordinate) for the lifting part')
    args = parser.parse_args(argv)
    if args.steps < 100:
        parser.error('--steps must be at least 100')
    if not osp.isfile(osp.join(args.data, 'standin_info.json')):
        print(f'error: {args.data} is not a generated FreiHAND-layout folder (no '
              'standin_info.json); make one with tools/dataset_converters/'
              'generate_standin_data.py freihand --out-dir DIR', file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    from mmengine.registry import init_default_scope
    import mmhandmim  # noqa: F401
    init_default_scope('mmpose')
    log(f'loading crops from {args.data}')
    tr_img, tr2d, tr3d = load_crops(args.data, 'training', ('gs', 'hom'))
    ev_img, ev2d, ev3d = load_crops(args.data, 'evaluation', ('gs', ))
    const = constant_hand_mm(ev3d)
    log(f'{len(tr_img)} training crops, {len(ev_img)} held-out; constant hand PA-MPJPE '
        f'{const:.2f} mm')
    rows = []
    for sigma in args.noise:
        pa = lifting(tr2d, tr3d, ev2d, ev3d, sigma)
        rows.append((sigma, pa))
        log(f'  lifting from GT 2D + {sigma:g} px noise: PA-MPJPE {pa:.2f} mm '
            f'({pa / const:.2f}x constant)')
    log(f'heatmap reference network, {args.steps} steps of batch 32')
    curve = heatmap_reference(tr_img, tr2d, ev_img, ev2d, args.steps)
    print('\n| 2D input to lifting | PA-MPJPE (mm) | / constant hand |\n| --- | --- | --- |')
    print(f'| (constant hand) | {const:.2f} | 1.00 |')
    for sigma, pa in rows:
        print(f'| GT 2D + {sigma:g} px noise per coordinate | {pa:.2f} | {pa / const:.2f} |')
    print('\n| heatmap U-Net step | held-out 2D error (px, 64 px crop) |\n| --- | --- |')
    for s, e in curve:
        print(f'| {s} | {e:.2f} |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
