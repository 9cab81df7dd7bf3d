"""Does the pose-aware alignment's output depend on the hand, and does L_pose learn?

Usage: python benchmarks/pose_alignment_check.py [--work-dir work_dirs/pose_alignment_check]
           [--variants ibot eq4 centred] [--regimes identical rot30 rot150 full]
           [--iters 320] [--batch 32] [--seeds 0] [--threads 2] [--report]

For each alignment variant (``ibot``: no alignment, the plain DINO/iBOT class loss; ``eq4``:
the literal eq. 4; ``centred`` (the default), ``linear``, ``unit_rms``: the other readings of
``mmhandmim.models.selfsup.pose_alignment``, with the running bottleneck centre, and the same
without it, ``*-nocenter``) and each augmentation regime it trains the demo's
pre-training model (``configs/demo/handmim_vit-tiny_demo.py``: 4-block ViT of width 96, 64 px
views, patch 8, 512 prototypes) with the class-token loss alone (patch and pixel losses
weighted 0, so the class loss is what is measured) on generated unlabeled crops, and prints:

* the class loss at the end (mean of the last 10 % of iterations) against ln K, the loss of a
  uniform (collapsed) prediction;
* the teacher's mean entropy and the entropy of its mean distribution on held-out views (a
  lower class loss from a merely sharper teacher, or a one-prototype collapse, shows there),
  and their difference, the information (nats) the teacher's assignment carries about the view
  (0 when collapsed either way);
* the shares of the teacher's aligned, normalised latent's variance explained by the image and
  by the view geometry (``alignment_diagnostics.variance_shares``) on held-out crops, each seen
  under the same 8 geometries of the regime, at initialisation and after training.

Regimes: ``identical`` (both views the same crop, only the student's masks differ: the loss
must fall far below ln K, else the machinery is broken); ``rot30``/``rot150`` (random resized
crop 0.3-1 and rotation up to +-30/+-150 deg, no photometric augmentation); ``full`` (the
paper's augmentation as the demo config has it: +-150 deg and iBOT's colour, blur and
solarisation); ``rot30_reflect``/``rot150_reflect`` (as rot30/rot150, with the view pixels that
lie outside the source mirrored in instead of black, ``HandMultiView(border_mode='reflect')``).

Schedule (the same for every run): AdamW lr 1e-3 (linear warm-up over the first 10 %, cosine to
1e-5), weight decay 0.04; teacher momentum 0.98 -> 1 on a cosine (product of momenta ~0.04:
the teacher ends trained, not random), teacher temperature 0.04 -> 0.07 over the first 25 %;
prototypes frozen for the first 1/6 of the iterations. Each finished run is stored as JSON (and its final
weights as .pth) under the work dir and reused on a re-run with the same settings.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations)
import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmhandmim.utils.atomic_io import atomic_write_text  # noqa: E402

# variant -> HandMIM(pose_alignment=...); None: plain iBOT (no alignment)
VARIANTS = {'ibot': None, 'eq4': dict(mode='eq4', center_momentum=None)}
for _mode in ('centred', 'linear', 'unit_rms'):
    VARIANTS[_mode] = dict(mode=_mode, center_momentum=0.9)
    VARIANTS[_mode + '-nocenter'] = dict(mode=_mode, center_momentum=None)
NO_PHOTOMETRY = dict(color_jitter_prob=0.0, grayscale_prob=0.0, blur_prob=(0.0, 0.0),
                     solarize_prob=(0.0, 0.0))
REGIMES = dict(
    identical=dict(rotation=(0., 30.), **NO_PHOTOMETRY),
    rot30=dict(rotation=(0., 30.), **NO_PHOTOMETRY),
    rot150=dict(rotation=(0., 150.), **NO_PHOTOMETRY),
    full=dict(rotation=(0., 150.)),
    # the same with view pixels outside the source mirrored in, not black (rotation borders)
    rot30_reflect=dict(rotation=(0., 30.), border_mode='reflect', **NO_PHOTOMETRY),
    rot150_reflect=dict(rotation=(0., 150.), border_mode='reflect', **NO_PHOTOMETRY),
)
DEFAULT_REGIMES = ['identical', 'rot30', 'rot150', 'full']
VIEW = dict(type='HandMultiView', num_views=2, view_size=64, patch_size=8, crop_scale=(0.3, 1.0),
            random_rotation_sign=True, num_local_views=0, mask_ratio=(0.1, 0.5), mask_prob=0.5,
            mask_shape='block')
CONFIG = 'configs/demo/handmim_vit-tiny_demo.py'
SHARE_IMAGES, SHARE_GEOMETRIES = 32, 8


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--work-dir', default='work_dirs/pose_alignment_check')
    p.add_argument('--variants', nargs='+', default=['ibot', 'eq4', 'centred'],
                   choices=list(VARIANTS))
    p.add_argument('--regimes', nargs='+', default=DEFAULT_REGIMES, choices=list(REGIMES))
    p.add_argument('--iters', type=int, default=320)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--seeds', type=int, nargs='+', default=[0])
    p.add_argument('--num-crops', type=int, default=512)
    p.add_argument('--momentum', type=float, default=0.98)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--report', action='store_true',
                   help='train nothing: print the table of every stored run of these settings')
    return p.parse_args()


# --- data ------------------------------------------------------------------------------------
def load_crops(root, num, seed):
    """Generated unlabeled hand crops as ``LoadHandCrop`` gives them to the pipeline (80 px)."""
    from mmhandmim.standin.generation.unlabeled_writer import generate_unlabeled
    from mmhandmim.datasets.unlabeled_hands import LoadHandCrop, UnlabeledHandDataset
    if not os.path.isfile(os.path.join(root, 'list.txt')):
        generate_unlabeled(root, num=num, seed=seed, img_size=96, overwrite=True,
                           progress=False)
    dataset = UnlabeledHandDataset(data_root=root, ann_file='list.txt', pipeline=[],
                                   lazy_init=False)
    load = LoadHandCrop(padding=1.25, out_size=80)
    return [load(copy.deepcopy(dataset.get_data_info(i)))['img'] for i in range(len(dataset))]


class ViewMaker:
    """The regime's ``HandMultiView`` + ``PackInputs``; ``identical`` copies view 0 to 1."""

    def __init__(self, regime, seed):
        from mmpretrain.registry import TRANSFORMS
        self.identical = regime == 'identical'
        self.view = TRANSFORMS.build(dict(VIEW, seed=seed, **REGIMES[regime]))
        self.pack = TRANSFORMS.build(dict(type='PackInputs', algorithm_keys=['view_geometry'],
                                          meta_keys=[]))

    def __call__(self, img):
        out = self.view(dict(img=img))
        if self.identical:
            out['img'][1] = out['img'][0].copy()
            out['view_geometry'][1] = out['view_geometry'][0]
        return self.pack(out)

    def batch(self, imgs):
        from mmengine.dataset import default_collate
        return default_collate([self(img) for img in imgs])


# --- model -----------------------------------------------------------------------------------
def build_model(variant, seed):
    from mmengine.config import Config
    from mmpretrain.registry import MODELS
    cfg = copy.deepcopy(Config.fromfile(os.path.join(ROOT, CONFIG)).model)
    cfg.loss_weights = dict(pose=1.0, patch=0.0, recon=0.0)
    cfg.use_pose_alignment = VARIANTS[variant] is not None
    if cfg.use_pose_alignment:
        cfg.pose_alignment = VARIANTS[variant]
    torch.manual_seed(seed)
    model = MODELS.build(cfg)
    model.init_weights()
    return model


@torch.no_grad()
def teacher_latents(model, imgs, regime, seed):
    """Normalised (aligned) teacher latents ``(N, M, 256)``: every image under the same M
    geometries of the regime (photometry off, so only the geometry varies)."""
    from mmhandmim.datasets.transforms.multiview import HandMultiView
    from mmhandmim.models.selfsup.alignment_diagnostics import teacher_aligned_latents
    geo_regime = 'rot30' if regime == 'identical' else regime
    maker = HandMultiView(**{k: v for k, v in VIEW.items() if k != 'type'}, seed=seed,
                          **dict(REGIMES[geo_regime], **NO_PHOTOMETRY))
    rng = np.random.default_rng(seed)
    h, w = imgs[0].shape[:2]
    geometries = [maker.sample_geometry(rng, w, h, maker.crop_scale)
                  for _ in range(SHARE_GEOMETRIES)]
    pre = model.data_preprocessor
    views = np.stack([[maker.warp(img, g, maker.view_size) for g in geometries]
                      for img in imgs])
    x = torch.from_numpy(views[..., ::-1].copy()).permute(0, 1, 4, 2, 3).float()  # BGR->RGB
    x = (x - pre.mean) / pre.std
    geo = torch.from_numpy(np.stack(geometries).astype(np.float32))
    return torch.cat([teacher_aligned_latents(model, x[i:i + 8], geo)
                      for i in range(0, len(x), 8)])


def shares(model, imgs, regime, seed):
    from mmhandmim.models.selfsup.alignment_diagnostics import variance_shares
    return variance_shares(teacher_latents(model, imgs, regime, seed))


@torch.no_grad()
def teacher_entropies(model, imgs, regime, seed):
    """Mean entropy of the teacher's (centred, sharpened) class distributions on the held-out
    views, and the entropy of their mean. A lower cross-entropy means little if the teacher
    only got sharper; ln K for both is the uniform collapse, a mean-entropy near 0 the
    one-prototype collapse."""
    latents = teacher_latents(model, imgs, regime, seed).flatten(0, 1)
    probs = model.distill_loss.teacher_probs(
        model.teacher.projection_head.last_layer(latents))
    entropy = -(probs * probs.clamp_min(1e-12).log()).sum(-1).mean()
    mean = probs.mean(0)
    return entropy.item(), -(mean * mean.clamp_min(1e-12).log()).sum().item()


# --- training --------------------------------------------------------------------------------
def train(variant, regime, seed, crops, held_out, args):
    from mmhandmim.engine.hooks.handmim_schedule_hooks import cosine_momentum
    model = build_model(variant, seed)
    init_shares = shares(model, held_out, regime, seed)
    model.train()
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim == 1 or name.endswith(('cls_token', 'pos_embed', 'mask_token'))
             else decay).append(p)
    optim = torch.optim.AdamW([dict(params=decay, weight_decay=0.04),
                               dict(params=no_decay, weight_decay=0.0)], lr=1e-3)
    frozen = {id(p) for p in model.last_layer_parameters()}
    warmup, freeze = max(1, args.iters // 10), args.iters // 6
    maker = ViewMaker(regime, seed)
    rng = np.random.default_rng(seed)
    K = model.projection_head.out_dim
    losses = []
    for it in range(args.iters):
        lr = (1e-3 * (it + 1) / warmup if it < warmup else
              1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi * (it - warmup)
                                                   / (args.iters - warmup))) / 2)
        for group in optim.param_groups:
            group['lr'] = lr
        model.set_teacher_temp(0.04 + 0.03 * min(1.0, it / max(1, args.iters // 4)))
        batch = maker.batch([crops[i] for i in rng.integers(0, len(crops), args.batch)])
        data = model.data_preprocessor(batch, True)
        loss = model.loss(data['inputs'], data['data_samples'])
        key = 'loss_pose' if model.use_pose_alignment else 'loss_cls'
        optim.zero_grad(set_to_none=True)
        loss[key].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 3.0)
        if it < freeze:
            for p in model.parameters():
                if id(p) in frozen:
                    p.grad = None
        optim.step()
        model.update_teacher(cosine_momentum(it, args.iters, args.momentum, 1.0))
        losses.append(loss[key].item())
    model.eval()
    tail = losses[-max(1, args.iters // 10):]
    final_shares = shares(model, held_out, regime, seed)
    entropy, entropy_of_mean = teacher_entropies(model, held_out, regime, seed)
    return dict(variant=variant, regime=regime, seed=seed, ln_k=math.log(K),
                class_loss=float(np.mean(tail)), loss_curve=losses[::max(1, args.iters // 32)],
                init_image_share=init_shares[0], init_geometry_share=init_shares[1],
                final_image_share=final_shares[0], final_geometry_share=final_shares[1],
                teacher_entropy=entropy, teacher_entropy_of_mean=entropy_of_mean), model


def main():
    args = parse_args()
    import logging
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights' per-key lines
    torch.set_num_threads(args.threads)
    os.makedirs(os.path.join(args.work_dir, 'runs'), exist_ok=True)
    settings = dict(iters=args.iters, batch=args.batch, num_crops=args.num_crops,
                    momentum=args.momentum)
    if args.report:
        return report(args.work_dir, settings)
    crops = load_crops(os.path.join(args.work_dir, 'data', 'train'), args.num_crops, 0)
    held_out = load_crops(os.path.join(args.work_dir, 'data', 'held_out'), SHARE_IMAGES, 1)
    results = []
    for regime in args.regimes:
        for variant in args.variants:
            for seed in args.seeds:
                path = os.path.join(args.work_dir, 'runs', f'{regime}_{variant}_s{seed}.json')
                if os.path.isfile(path):
                    with open(path) as f:
                        rec = json.load(f)
                    if rec.get('settings') == settings:
                        results.append(rec)
                        print(f'[reuse] {regime} {variant} s{seed}', flush=True)
                        continue
                t0 = time.time()
                rec, model = train(variant, regime, seed, crops, held_out, args)
                rec.update(settings=settings, seconds=time.time() - t0)
                torch.save(model.state_dict(), path[:-len('.json')] + '.pth')
                atomic_write_text(json.dumps(rec), path)
                results.append(rec)
                print(f'[{time.time() - t0:5.0f} s] {regime:9s} {variant:8s} s{seed}: class '
                      f'loss {rec["class_loss"]:.3f} (ln K {rec["ln_k"]:.3f}); image share '
                      f'{rec["init_image_share"]:.1%} -> {rec["final_image_share"]:.1%}, '
                      f'geometry {rec["init_geometry_share"]:.1%} -> '
                      f'{rec["final_geometry_share"]:.1%}', flush=True)
    print_table(results)
    with open(os.path.join(args.work_dir, 'summary.json'), 'w') as f:
        json.dump(results, f, indent=1)


def report(work_dir, settings):
    import glob
    runs = []
    for path in sorted(glob.glob(os.path.join(work_dir, 'runs', '*.json'))):
        with open(path) as f:
            rec = json.load(f)
        if rec.get('settings') == settings:
            runs.append(rec)
    order = {name: i for i, name in enumerate(list(REGIMES))}
    variants = {name: i for i, name in enumerate(VARIANTS)}
    runs.sort(key=lambda r: (order[r['regime']], variants[r['variant']], r['seed']))
    print_table(runs)


def print_table(results):
    print('\n| regime | variant | class loss | ln K | teacher entropy / of the mean / '
          'information |'
          ' image share init -> end | geometry share init -> end | seeds |')
    print('|---|---|---|---|---|---|---|---|')
    groups = {}
    for r in results:
        groups.setdefault((r['regime'], r['variant']), []).append(r)
    for (regime, variant), rs in groups.items():
        def m(key):
            return float(np.mean([r[key] for r in rs]))
        loss = ' / '.join(f'{r["class_loss"]:.3f}' for r in rs)
        ent = ('-' if any('teacher_entropy' not in r for r in rs) else
               f'{m("teacher_entropy"):.2f} / {m("teacher_entropy_of_mean"):.2f} / '
               f'{m("teacher_entropy_of_mean") - m("teacher_entropy"):.2f}')
        print(f'| {regime} | {variant} | {loss} | {rs[0]["ln_k"]:.3f} | {ent} | '
              f'{m("init_image_share"):.1%} -> {m("final_image_share"):.1%} | '
              f'{m("init_geometry_share"):.1%} -> {m("final_geometry_share"):.1%} | '
              f'{len(rs)} |')


if __name__ == '__main__':
    main()
