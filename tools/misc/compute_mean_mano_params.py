"""Mean MANO parameters for ``PyMAFMANOHead(mean_params=...)``: where iteration 0 starts.

    python tools/misc/compute_mean_mano_params.py CONFIG --out mean_params.npz
        [--split {train,val,test}] [--max-samples N] [--overwrite] [--cfg-options k=v ...]

Builds the dataset of ``CONFIG``'s ``{split}_dataloader`` (default: the training set) and the
config's hand model (``model.head.mano``), and writes an .npz with

* ``pose6d`` (16, 6): per joint, the chordal L2 mean of the rotations the hand model skins
  with (``MANOLayer.pose_to_rotmat`` of the stored poses, so with ``flat_hand_mean=False``
  the finger rotations include ``hands_mean``, as the head's 6D pose does): the average of
  the rotation matrices projected back onto SO(3) (SVD, determinant fixed to +1), stored as
  Zhou et al. 6D (``matrix_to_rot6d``);
* ``betas`` (10,): the mean shape;
* ``cam`` (3,): the mean weak-perspective camera ``(s, tx, ty)`` as the test pipeline's crop
  sees the hand: the sample's box with the test pipeline's ``GetBBoxCenterScale`` padding,
  squared to ``MeshTopdownAffine``'s input size, K following the crop, then
  ``translation_to_weak_cam`` of the root joint (no augmentation: the test geometry);
* metadata (sample count, config, split, dataset, hand model, padding, input size).

Only samples with MANO labels (``has_mano``) count. The result depends on the hand model's
``hands_mean`` (MANO vs. the stand-in) and on ``flat_hand_mean``: compute it with the hand
model the head will use. FreiHAND and HO3D are read vectorised from their parsed annotation
arrays (no images, no per-sample geometry); other datasets go through ``get_data_info``.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
import mmhandmim.compat  # noqa: E402,F401  (before anything imports mmengine/mmcv)

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmhandmim.utils.cli import (cfg_options_action, check_data_roots, load_config,  # noqa: E402
                                 user_errors)
from mmhandmim.utils.errors import UserInputError  # noqa: E402

PROG = 'compute_mean_mano_params.py'
SPLITS = ('train', 'val', 'test')
#: mmpose's GetBBoxCenterScale default padding, used when the test pipeline does not set one
MMPOSE_DEFAULT_PADDING = 1.25
_CHUNK = 16384  # rotations converted at a time (memory stays small for 130k samples)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='the mesh model config (its dataset and hand model are used)')
    p.add_argument('--out', required=True, help='the .npz to write')
    p.add_argument('--split', choices=SPLITS, default='train',
                   help='which dataloader\'s dataset to average over (default: train)')
    p.add_argument('--max-samples', type=int, default=None,
                   help='use at most N samples, evenly spaced over the dataset')
    p.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    p.add_argument('--cfg-options', nargs='+', action=cfg_options_action(),
                   help='override config keys, e.g. model.head.mano.model_path=standin')
    args = p.parse_args(argv)
    if args.max_samples is not None and args.max_samples < 1:
        p.error('--max-samples must be >= 1')
    return args


# --- the crop the test pipeline makes ------------------------------------------------------
def test_crop_geometry(cfg):
    """(padding, input_size) of the config's test pipeline (GetBBoxCenterScale and
    MeshTopdownAffine), from test_dataloader or else val_dataloader."""
    from mmhandmim.utils.cli import _iter_dataset_cfgs
    for loader in ('test_dataloader', 'val_dataloader'):
        for where, ds in _iter_dataset_cfgs(cfg):
            if not where.startswith(loader) or not ds.get('pipeline'):
                continue
            steps = {t.get('type'): t for t in ds['pipeline'] if isinstance(t, dict)}
            if 'MeshTopdownAffine' not in steps:
                continue
            padding = steps.get('GetBBoxCenterScale', {}).get('padding',
                                                              MMPOSE_DEFAULT_PADDING)
            size = steps['MeshTopdownAffine'].get('input_size', (224, 224))
            return float(padding), tuple(int(s) for s in size)
    raise UserInputError('the config has no test (or val) pipeline with MeshTopdownAffine: '
                         'cannot tell how the test crop sees the hand')


def square_scale(scale, input_size):
    """Vectorised ``MeshTopdownAffine._square_scale`` (mmpose's aspect fix), (N, 2)."""
    w, h = input_size
    aspect = w / h
    sw, sh = scale[:, 0], scale[:, 1]
    wide = sw > sh * aspect
    return np.stack([np.where(wide, sw, sh * aspect), np.where(wide, sw / aspect, sh)], 1)


def crop_intrinsics(K, bbox, padding, input_size):
    """(N, 3, 3) K of the unrotated test crop of each (N, 4) xyxy box: the warp of
    ``get_warp_matrix(center, scale, 0, input_size)`` is ``u' = k (u - c) + size / 2`` with
    ``k = W / scale_w`` (aspect already fixed), and K follows it (``A K``)."""
    w, h = input_size
    bbox = np.asarray(bbox, np.float64)
    center = (bbox[:, :2] + bbox[:, 2:]) * 0.5
    scale = square_scale((bbox[:, 2:] - bbox[:, :2]) * padding, input_size)
    k = w / scale[:, 0]
    A = np.zeros((len(bbox), 3, 3))
    A[:, 0, 0] = A[:, 1, 1] = k
    A[:, 0, 2] = w / 2 - k * center[:, 0]
    A[:, 1, 2] = h / 2 - k * center[:, 1]
    A[:, 2, 2] = 1
    return A @ np.asarray(K, np.float64)


def crop_cameras(K, joints, bbox, padding, input_size):
    """(N, 3) weak-perspective cameras (s, tx, ty) of the root joints in the test crops."""
    from mmhandmim.models.mesh.camera import translation_to_weak_cam
    K_crop = torch.from_numpy(crop_intrinsics(K, bbox, padding, input_size))
    root = torch.from_numpy(np.asarray(joints, np.float64)[:, 0])
    return translation_to_weak_cam(root, K_crop, input_size).numpy()


# --- per-sample arrays of a dataset --------------------------------------------------------
FIELDS = ('K', 'joints', 'bbox', 'mano_pose', 'mano_betas', 'has_mano')


def _project_box(joints, K):
    """The tight box of the projected joints, as ``HandMeshBaseDataset.make_sample``."""
    from mmhandmim.structures import project
    kpts = project(joints, K).astype(np.float32)
    return np.concatenate([kpts.min(1), kpts.max(1)], 1).astype(np.float32)


def _entry_field(ds, idx, key):
    """``key`` of the lightweight data-list entries (index look-ups only, no geometry)."""
    from mmengine.dataset import BaseDataset
    return np.array([BaseDataset.get_data_info(ds, int(i))[key] for i in idx], np.int64)


def _freihand_arrays(ds, idx):
    a = ds._load_arrays()
    frame = _entry_field(ds, idx, 'frame_idx')
    n = len(frame)
    K = np.asarray(a['K'])[frame].astype(np.float64)
    gt = 'xyz' in a
    if gt:
        joints = np.asarray(a['xyz'])[frame].astype(np.float64)
        mano = np.asarray(a['mano'])[frame].reshape(n, -1)
        pose, betas = mano[:, :48], mano[:, 48:58]
    else:
        joints, pose, betas = np.zeros((n, 21, 3)), np.zeros((n, 48)), np.zeros((n, 10))
    if gt and ds.bbox_source == 'keypoints':
        bbox = _project_box(joints, K)
    else:
        bbox = np.tile(np.array([0, 0, ds.image_size, ds.image_size], np.float32), (n, 1))
    return dict(K=K, joints=joints, bbox=bbox, mano_pose=pose.astype(np.float32),
                mano_betas=betas.astype(np.float32), has_mano=np.full(n, gt))


def _ho3d_arrays(ds, idx):
    a = ds._load_arrays()
    li = _entry_field(ds, idx, 'list_idx')
    n = len(li)
    K = np.asarray(a['K'])[li].astype(np.float64)
    if ds.split == 'train':
        joints = np.asarray(a['joints'])[li].astype(np.float64)
        return dict(K=K, joints=joints, bbox=_project_box(joints, K),
                    mano_pose=np.asarray(a['pose'])[li].astype(np.float32),
                    mano_betas=np.asarray(a['betas'])[li].astype(np.float32),
                    has_mano=np.ones(n, bool))
    joints = (np.asarray(a['gt_xyz'])[li].astype(np.float64) if 'gt_xyz' in a
              else np.zeros((n, 21, 3)))
    return dict(K=K, joints=joints, bbox=np.asarray(a['bbox'])[li].astype(np.float32),
                mano_pose=np.zeros((n, 48), np.float32),
                mano_betas=np.zeros((n, 10), np.float32), has_mano=np.zeros(n, bool))


def _generic_arrays(ds, idx):
    infos = [ds.get_data_info(int(i)) for i in idx]
    pick = lambda key: np.stack([np.asarray(i[key])[0] for i in infos])  # noqa: E731
    return dict(K=pick('cam_K').astype(np.float64),
                joints=pick('keypoints_3d').astype(np.float64), bbox=pick('bbox'),
                mano_pose=pick('mano_pose').astype(np.float32),
                mano_betas=pick('mano_betas').astype(np.float32),
                has_mano=pick('has_mano') > 0)


def dataset_arrays(ds, idx=None):
    """Per-sample ``K`` (N,3,3), ``joints`` (N,21,3; FreiHAND order, camera frame),
    ``bbox`` (N,4) xyxy, ``mano_pose`` (N,48), ``mano_betas`` (N,10), ``has_mano`` (N,) for
    the samples ``idx`` (default all) of ``ds``: what ``get_data_info`` gives, vectorised for
    FreiHAND and HO3D, through mmengine's ConcatDataset/RepeatDataset."""
    from mmengine.dataset import ConcatDataset, RepeatDataset

    from mmhandmim.datasets.freihand import FreiHANDMeshDataset
    from mmhandmim.datasets.ho3d import HO3DMeshDataset
    if hasattr(ds, 'full_init'):
        ds.full_init()
    idx = np.arange(len(ds)) if idx is None else np.asarray(idx, np.int64)
    if isinstance(ds, ConcatDataset):
        which = np.searchsorted(ds.cumulative_sizes, idx, side='right')
        start = np.concatenate([[0], ds.cumulative_sizes[:-1]])
        parts = {d: dataset_arrays(ds.datasets[d], idx[which == d] - start[d])
                 for d in np.unique(which)}
        out = {k: np.empty((len(idx), ) + parts[which[0]][k].shape[1:],
                           parts[which[0]][k].dtype) for k in FIELDS}
        for d, arrays in parts.items():
            for k in FIELDS:
                out[k][which == d] = arrays[k]
        return out
    if isinstance(ds, RepeatDataset):
        return dataset_arrays(ds.dataset, idx % ds._ori_len)
    if type(ds) is FreiHANDMeshDataset:  # exact types: a subclass may change the samples
        return _freihand_arrays(ds, idx)
    if type(ds) is HO3DMeshDataset:
        return _ho3d_arrays(ds, idx)
    return _generic_arrays(ds, idx)


# --- the mean ------------------------------------------------------------------------------
def mean_parameters(arrays, mano, padding, input_size):
    """Mean ``pose6d`` (16,6), ``betas``, ``cam`` (float64 numpy) and statistics over the
    samples with MANO labels; ``mano``: a MANOLayer (without PCA)."""
    from mmhandmim.structures import matrix_to_rot6d, project_to_so3
    sel = np.asarray(arrays['has_mano'], bool)
    n = int(sel.sum())
    if n == 0:
        raise UserInputError(
            f'none of the {len(sel)} samples has MANO labels (has_mano): mean MANO parameters '
            'need a split with MANO ground truth (e.g. FreiHAND training, HO3D train)')
    pose = torch.from_numpy(np.asarray(arrays['mano_pose'], np.float64)[sel])
    mano = mano.double()
    total = torch.zeros(16, 3, 3, dtype=torch.float64)
    with torch.no_grad():
        for chunk in pose.split(_CHUNK):
            total += mano.pose_to_rotmat(chunk).sum(0)
        mean_rot = project_to_so3(total / n)
        spread = torch.zeros(16, dtype=torch.float64)  # mean geodesic distance to the mean
        for chunk in pose.split(_CHUNK):
            rel = mean_rot.transpose(-1, -2) @ mano.pose_to_rotmat(chunk)
            cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1, 1)
            spread += torch.arccos(cos).sum(0)
    cams = crop_cameras(arrays['K'][sel], arrays['joints'][sel], arrays['bbox'][sel],
                        padding, input_size)
    betas = np.asarray(arrays['mano_betas'], np.float64)[sel]
    return dict(pose6d=matrix_to_rot6d(mean_rot).numpy(), rotmat=mean_rot.numpy(),
                betas=betas.mean(0), cam=cams.mean(0), cam_std=cams.std(0),
                rot_spread_deg=np.degrees((spread / n).numpy()), num_samples=n,
                num_total=len(sel))


def build_inputs(cfg, split):
    """(dataset, hand model layer, dataset description) of ``split`` in mmpose's scope."""
    from mmengine.registry import DefaultScope

    import mmhandmim  # noqa: F401  (registrations)
    loader = cfg.get(f'{split}_dataloader')
    if not loader or not loader.get('dataset'):
        raise UserInputError(f'the config has no {split}_dataloader.dataset')
    head = cfg.get('model', {}).get('head', {})
    if not head.get('mano'):
        raise UserInputError('the config has no model.head.mano (the hand model the head uses)')
    check_data_roots(cfg, loaders=(f'{split}_dataloader', ))
    mano_cfg = dict(head['mano'])
    mano_cfg['use_pca'] = False  # the datasets store full 48-value axis-angle poses
    with DefaultScope.overwrite_default_scope('mmpose'):
        from mmpose.registry import DATASETS, MODELS
        ds = DATASETS.build(loader['dataset'])
        mano = MODELS.build(mano_cfg)
    return ds, mano, head


def save_npz(path, overwrite, **arrays):
    """Write atomically; refuse when ``path`` appeared while we computed."""
    from mmhandmim.utils.atomic_io import atomic_output
    with atomic_output(path) as tmp:
        with open(tmp, 'wb') as f:
            np.savez(f, **arrays)
        if osp.exists(path) and not overwrite:
            raise UserInputError(f'--out file exists: {path!r}; pass --overwrite to replace it')


def main(argv=None):
    args = parse_args(argv)
    with user_errors(PROG):
        if not args.out.endswith('.npz'):
            raise UserInputError(f'--out must end with .npz, got {args.out!r}')
        if osp.exists(args.out) and not args.overwrite:
            raise UserInputError(f'--out file exists: {args.out!r}; pass --overwrite to '
                                 'replace it or choose another name')
        cfg = load_config(args.config, args.cfg_options)
        padding, input_size = test_crop_geometry(cfg)
        ds, mano, head = build_inputs(cfg, args.split)
        head_size = tuple(head.get('input_size', (224, 224)))
        if head_size != input_size:
            raise UserInputError(f'model.head.input_size {head_size} differs from the test '
                                 f"pipeline's MeshTopdownAffine input_size {input_size}")
        if len(ds) == 0:
            raise UserInputError(f'the {args.split} dataset is empty')
        idx = None
        if args.max_samples is not None and args.max_samples < len(ds):
            idx = np.unique(np.linspace(0, len(ds) - 1, args.max_samples).round().astype(int))
        arrays = dataset_arrays(ds, idx)
        res = mean_parameters(arrays, mano, padding, input_size)
        if mano.num_betas != res['betas'].shape[0]:
            raise UserInputError(f"the hand model has {mano.num_betas} betas, the dataset "
                                 f"{res['betas'].shape[0]}")
        hand_model = ('stand-in hand model (not MANO)' if mano.is_standin else 'MANO') + \
            f': {mano.model_file}'
        save_npz(args.out, args.overwrite,
                 pose6d=res['pose6d'].astype(np.float32),
                 betas=res['betas'].astype(np.float32), cam=res['cam'].astype(np.float32),
                 num_samples=np.int64(res['num_samples']), config=np.str_(args.config),
                 split=np.str_(args.split), dataset=np.str_(type(ds).__name__),
                 hand_model=np.str_(hand_model), flat_hand_mean=np.bool_(mano.flat_hand_mean),
                 padding=np.float64(padding), input_size=np.array(input_size, np.int64))
    np.set_printoptions(precision=4, suppress=True)
    print(f"{res['num_samples']} of {res['num_total']} samples with MANO labels "
          f"({type(ds).__name__}, {args.split}_dataloader); {hand_model}, "
          f'flat_hand_mean={mano.flat_hand_mean}')
    print(f"  mean camera (s, tx, ty) = {res['cam']} (std {res['cam_std']}) for "
          f'{input_size[0]}x{input_size[1]} crops, padding {padding}')
    print(f"  mean betas = {res['betas']}")
    print(f"  mean angle to the mean rotation per joint (deg): {res['rot_spread_deg']}")
    print(f'wrote {args.out}')
    return res


if __name__ == '__main__':
    main()
