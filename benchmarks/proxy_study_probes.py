"""Probes of frozen pre-trained ViTs for the proxy study (``proxy_study.py``).

* **Keypoint probe.** Ridge regression from frozen features (class token and mean patch token
  of the teacher backbone) of the evaluation-style crops to root-relative 3D joints (mm) and 2D
  keypoints in the crop (px); the ridge strength is picked on a held-out fifth of the training
  split. Lower error = more pose information that a linear map can read. A second 3D column
  reads the class token and all patch tokens (not their mean), for 3D and for 2D. Each probe is first run on the
  backbones of fine-tunings from scratch and on random ViTs: a probe that does not rank the
  fine-tuned features (which do carry the pose for the head) clearly above random ones cannot
  tell pre-trained features apart either, and is not read (``proxy_study_regime``).
* **Does the class-token latent turn with the image?** (a diagnostic of L_pose, not a ranking) Crops are rotated by theta about their
  centre (the view geometry ``[R(theta) | 0]`` of ``view_geometry.py``) and the teacher's
  bottleneck ``z`` (the 128 pseudo points L_pose aligns) compared with the unrotated one:
  ``equivariance`` = |align(z_theta, G) - z_0| / |z_0| (0 if the points turn with the image,
  what L_pose asks for), ``invariance`` = |z_theta - z_0| / |z_0| (0 if the latent ignores the
  rotation, what iBOT's cross-view loss asks for) and ``between images`` = |z_j - z_i| / |z_i|
  for different crops (how far apart unrelated latents are; the scale of the other two).
"""
import math
import os.path as osp

import numpy as np
import torch
import torch.nn.functional as F

ANGLES = (30.0, 60.0, 90.0, 150.0)
#: the ranking probes (errors; lower = more pose information a linear map can read); each is
#: read on pre-trained features only after it ranked fine-tuned backbones above random ones
PROBE_KEYS = ('probe_3d_mm', 'probe_3d_all_tokens_mm', 'probe_2d_px',
              'probe_2d_all_tokens_px')
RIDGE = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)


def load_split(ft_config, data_root, split, version='gs'):
    """Test-pipeline crops ``(N, 3, h, w)`` uint8 BGR, root-relative joints (mm), 2D (px).

    ``version``: which training image version (ignored for the evaluation split).
    """
    from mmengine.config import Config
    from mmpose.registry import DATASETS
    cfg = Config.fromfile(ft_config)
    ds_cfg = cfg.val_dataloader.dataset.copy()
    ds_cfg.update(data_root=data_root + '/', split=split,
                  image_versions=(version, ))
    ds_cfg.pipeline = cfg.val_dataloader.dataset.pipeline
    ds = DATASETS.build(ds_cfg)
    imgs, j3d, j2d = [], [], []
    for i in range(len(ds)):
        s = ds[i]
        labels = s['data_samples'].gt_instance_labels
        imgs.append(s['inputs'])
        j3d.append(labels.keypoints_3d[0])
        j2d.append(labels.keypoints_2d[0])
    j3d = torch.stack(j3d).double()
    return torch.stack(imgs), (j3d - j3d[:, :1]) * 1000.0, torch.stack(j2d).double()


def normalise(imgs, pre_cfg):
    mean = torch.tensor(pre_cfg.mean).view(1, 3, 1, 1)
    std = torch.tensor(pre_cfg.std).view(1, 3, 1, 1)
    x = imgs.float()
    if pre_cfg.get('to_rgb', pre_cfg.get('bgr_to_rgb', False)):
        x = x.flip(1)
    return (x - mean) / std


def build_pretrained(config, checkpoint, seed):
    """The HandMIM model of ``config`` with ``checkpoint`` loaded (or freshly initialised)."""
    from mmengine.config import Config
    from mmpretrain.registry import MODELS

    from mmhandmim.engine.checkpoint import load_checkpoint_file
    cfg = Config.fromfile(config)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint is None:
        model.init_weights()
    else:
        state = load_checkpoint_file(checkpoint, trusted=True)['state_dict']
        model.load_state_dict(state)
    return model.eval(), cfg.model.data_preprocessor


@torch.no_grad()
def features(model, x, batch=128):
    """``(class token, mean patch token, all patch tokens flattened)`` of the teacher."""
    cls, patch, every = [], [], []
    for i in range(0, len(x), batch):
        c, p, _ = model.teacher.backbone.forward_features(x[i:i + batch])
        cls.append(c)
        patch.append(p.mean(1))
        every.append(p.flatten(1))
    return torch.cat(cls), torch.cat(patch), torch.cat(every)


def load_finetuned_backbone(model, checkpoint):
    """Put a fine-tuned estimator's ``backbone.*`` weights into the teacher backbone."""
    from mmhandmim.engine.checkpoint import load_checkpoint_file
    state = load_checkpoint_file(checkpoint, trusted=True)['state_dict']
    backbone = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    missing, unexpected = model.teacher.backbone.load_state_dict(backbone, strict=False)
    if unexpected or set(missing) - {'mask_token'}:  # fine-tuning has no mask token
        raise RuntimeError(f'{checkpoint}: backbone keys do not match the pre-training ViT '
                           f'(missing {missing[:4]}, unexpected {unexpected[:4]})')


def ridge_fit(a, t, lam):
    """Ridge regression with an unpenalised intercept: ``predict(x) = (x - mu_a) @ w + mu_t``.

    Solved in the dual (an n x n system) when there are more features than samples (all patch
    tokens: 6,144 features, 512 images), in the primal otherwise; both are the exact ridge
    solution of the centred problem, which is what an unpenalised intercept amounts to.
    """
    mu_a, mu_t = a.mean(0), t.mean(0)
    x, y = a - mu_a, t - mu_t
    n, d = x.shape
    if d > n:
        w = x.T @ torch.linalg.solve(x @ x.T + lam * torch.eye(n, dtype=x.dtype), y)
    else:
        w = torch.linalg.solve(x.T @ x + lam * torch.eye(d, dtype=x.dtype), x.T @ y)
    return lambda q: (q - mu_a) @ w + mu_t


def ridge_probe(f_tr, y_tr, f_ev, y_ev):
    """Eval error of a ridge map features -> targets ``(N, K, D)``: mean per-point L2 norm."""
    # one global scale, not per-dimension standardisation: a (nearly) collapsed feature has
    # ~0 training variance, and dividing by it blows up its evaluation values
    mu = f_tr.mean(0)
    sd = (f_tr - mu).pow(2).mean().sqrt() + 1e-12
    a_tr, a_ev = (f_tr - mu) / sd, (f_ev - mu) / sd
    t_tr, t_ev = y_tr.flatten(1), y_ev.flatten(1)

    def err(a, t, predict):
        return (predict(a) - t).view(len(t), -1, y_tr.shape[-1]).norm(dim=-1).mean().item()

    n_fit = int(len(a_tr) * 0.8)
    lam = min(RIDGE, key=lambda lam: err(a_tr[n_fit:], t_tr[n_fit:],
                                         ridge_fit(a_tr[:n_fit], t_tr[:n_fit], lam)))
    return err(a_ev, t_ev, ridge_fit(a_tr, t_tr, lam)), lam


@torch.no_grad()
def rotation_probe(model, x):
    from mmhandmim.models.selfsup.pose_alignment import align_pseudo_keypoints
    neck = model.teacher.projection_head

    def latent(img):
        return neck.bottleneck(model.teacher.backbone.forward_features(img)[0]).double()

    align = model.pose_alignment or (lambda z, g: align_pseudo_keypoints(z, g, 'centred'))
    identity = torch.tensor([[1., 0., 0.], [0., 1., 0.]]).expand(len(x), 2, 3)
    z0 = latent(x)
    a0 = align(z0, identity).double()  # the unrotated view, aligned
    n0 = z0.norm(dim=1)
    eq, inv = [], []
    for angle in ANGLES:
        t = math.radians(angle)
        rot = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
        geometry = torch.cat([rot, torch.zeros(2, 1)], 1)  # v = R u (view_geometry.py)
        # affine_grid maps output (view) coordinates to input (source) ones: u = R^T v
        grid = F.affine_grid(torch.cat([rot.T, torch.zeros(2, 1)], 1).expand(len(x), 2, 3),
                             list(x.shape), align_corners=False)
        z = latent(F.grid_sample(x, grid, align_corners=False))
        aligned = align(z, geometry.expand(len(x), 2, 3)).double()
        eq.append(((aligned - a0).norm(dim=1) / a0.norm(dim=1)).mean().item())
        inv.append(((z - z0).norm(dim=1) / n0).mean().item())
    between = ((z0.roll(1, 0) - z0).norm(dim=1) / n0).mean().item()
    return dict(equivariance=float(np.mean(eq)), invariance=float(np.mean(inv)),
                between_images=between, per_angle=dict(zip(map(str, ANGLES), zip(eq, inv))))


def run_probes(work, pre_records, seeds, data_root, ft_config, pre_config, train_version,
               finetuned=()):
    """Probe every pre-trained teacher, a randomly initialised ViT per seed and the backbones
    of fine-tunings from scratch.

    The ridge maps are fit on the training images of ``train_version``, a cluttered-background
    version like the evaluation images: fit on the green screen, they met a background domain
    gap at evaluation and did worse than predicting the mean pose (the first study).
    ``ft_config``: a fine-tuning config of the study (its test pipeline makes the crops);
    ``pre_config``: a pre-training config of the same architecture (random and fine-tuned
    backbones are built from it). ``finetuned``: ``(seed, checkpoint)`` of fine-tuned
    estimators, probed as ``'fine-tuned from scratch'``: the features known to carry the pose,
    against which each probe is validated (``proxy_study_regime.probe_checks``).
    """
    import logging

    import mmhandmim  # noqa: F401  (registrations)
    from mmengine.logging import MMLogger
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # init_weights' per-key lines
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('mmpose'):
        tr = load_split(ft_config, data_root, 'training', train_version)
        ev = load_split(ft_config, data_root, 'evaluation')
    # (label, seed, config, pre-training checkpoint, fine-tuned checkpoint)
    entries = [('random init', s, pre_config, None, None) for s in seeds]
    entries += [('fine-tuned from scratch', s, pre_config, None, ckpt) for s, ckpt in finetuned]
    entries += [(r['variant'], r['seed'], r['config'], r['checkpoint'], None)
                for r in pre_records]
    out = []
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for variant, seed, config, ckpt, finetuned_ckpt in entries:
            model, pre = build_pretrained(config, ckpt, seed)
            if finetuned_ckpt:
                load_finetuned_backbone(model, finetuned_ckpt)
            x_tr, x_ev = normalise(tr[0], pre), normalise(ev[0], pre)
            (c_tr, m_tr, a_tr), (c_ev, m_ev, a_ev) = features(model, x_tr), features(model, x_ev)
            f_tr, f_ev = torch.cat([c_tr, m_tr], 1).double(), torch.cat([c_ev, m_ev], 1).double()
            e3d, lam3 = ridge_probe(f_tr, tr[1], f_ev, ev[1])
            e2d, lam2 = ridge_probe(f_tr, tr[2], f_ev, ev[2])
            every_tr = torch.cat([c_tr, a_tr], 1).double()
            every_ev = torch.cat([c_ev, a_ev], 1).double()
            e3d_all, _ = ridge_probe(every_tr, tr[1], every_ev, ev[1])
            e2d_all, _ = ridge_probe(every_tr, tr[2], every_ev, ev[2])
            rot = rotation_probe(model, x_ev)
            out.append(dict(variant=variant, seed=seed, probe_3d_mm=e3d, probe_2d_px=e2d,
                            probe_3d_all_tokens_mm=e3d_all, probe_2d_all_tokens_px=e2d_all,
                            ridge=(lam3, lam2), **rot))
            print(f'  probe {variant} s{seed}: 3D {e3d:.2f} mm ({e3d_all:.2f} all tokens), '
                  f'2D {e2d:.2f} px ({e2d_all:.2f} all tokens), '
                  f'equivariance {rot["equivariance"]:.3f}, invariance '
                  f'{rot["invariance"]:.3f}, between images {rot["between_images"]:.3f}',
                  flush=True)
    # what predicting the mean pose gives: the floor the probe must beat
    mean_3d = (ev[1] - tr[1].mean(0)).norm(dim=-1).mean().item()
    mean_2d = (ev[2] - tr[2].mean(0)).norm(dim=-1).mean().item()
    return dict(runs=out, mean_pose_3d_mm=mean_3d, mean_pose_2d_px=mean_2d,
                train_version=train_version,
                angles=list(ANGLES), data=osp.relpath(data_root, work))
