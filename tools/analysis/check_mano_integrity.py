"""Check a dataset's stored MANO parameters against its stored vertices and joints.

Re-poses MANO from the stored pose and shape under each convention (``flat_hand_mean`` on/off,
each fingertip-id convention), with the translation derived from the stored joints (MANO's
root joint is the centre of the global rotation, so ``trans = xyz[0] - root(betas)``), and
reports how well it reproduces the stored vertices (where stored) and joints, so a user can
verify a download and the loader's conventions. For FreiHAND it also tells what the last
three values of ``*_mano.json`` hold: a metric translation, or the official toolbox's
``uv_root`` + ``scale`` (keypoint 9 at ``((uv_root - pp) / scale, focal / scale)``)::

    python tools/analysis/check_mano_integrity.py freihand DATA_ROOT [--split training]
        [--mano-dir data/mano | standin] [--num-samples 256]
    python tools/analysis/check_mano_integrity.py ho3d DATA_ROOT [--split train] [--version v2]

Errors are in mm, after the loaders' conversions (OpenCV frame, FreiHAND joint order).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmhandmim.compat  # noqa: E402,F401

import numpy as np  # noqa: E402
import torch  # noqa: E402

from mmhandmim.utils.cli import user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402

TIP_CONVENTIONS = ('freihand', 'ho3d', 'common', 'standin')
#: the keypoint the official FreiHAND toolbox places the hand by (``pose_by_root``)
TOOLBOX_ROOT = 9
#: a convention "matches" when it puts the root within this many mm of the stored joint
MATCH_MM = 5.0


class NoMANOError(UserInputError, ValueError):
    """The split has no MANO parameters to check."""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('dataset', choices=['freihand', 'ho3d'])
    p.add_argument('data_root')
    p.add_argument('--split', help='freihand: training|evaluation; ho3d: train')
    p.add_argument('--version', default='v2', help='HO3D version (v2|v3)')
    p.add_argument('--mano-dir', default=None,
                   help="folder with MANO_RIGHT.pkl, or 'standin' (default: data/mano)")
    p.add_argument('--num-samples', type=int, default=256)
    return p.parse_args(argv)


def load_samples(args):
    import mmhandmim  # noqa: F401  (registers the datasets)
    from mmhandmim.datasets.freihand import FreiHANDMeshDataset
    from mmhandmim.datasets.ho3d import HO3DMeshDataset
    if args.dataset == 'freihand':
        ds = FreiHANDMeshDataset(args.data_root, split=args.split or 'training',
                                 image_versions=('gs', ), test_mode=True)
    else:
        ds = HO3DMeshDataset(args.data_root, split=args.split or 'train',
                             version=args.version, test_mode=True)
    idx = np.unique(np.linspace(0, len(ds) - 1, min(args.num_samples, len(ds))).round()
                    .astype(int))
    infos = [ds.get_data_info(int(i)) for i in idx]
    if not all(i['has_mano'][0] for i in infos):
        raise NoMANOError(f'{args.dataset} {args.split or "default"} split at '
                          f'{args.data_root} has no MANO parameters to check')
    stack = {k: np.concatenate([i[k] for i in infos]).astype(np.float64) for k in
             ('mano_pose', 'mano_betas', 'keypoints_3d', 'vertices', 'cam_K', 'hand_scale')
             if k in infos[0]}
    stack['has_verts'] = bool(np.abs(stack['vertices']).sum() > 0)
    if args.dataset == 'freihand':
        stack['theta'] = np.stack([ds.mano_theta(int(i)) for i in idx])
    return stack


def derived_trans(layer, pose, betas, joints):
    """The translation that puts the layer's root joint on the stored wrist (keypoint 0)."""
    with torch.no_grad():
        root = layer(pose, betas)['joints'][:, 0]
    return torch.as_tensor(joints[:, 0], dtype=root.dtype) - root


def stored_conventions(stack, layer):
    """Root error (mm, mean over samples) of each reading of FreiHAND's values 58-61."""
    theta, joints, K = stack['theta'], stack['keypoints_3d'], stack['cam_K']
    pose, betas = (torch.as_tensor(stack[k]) for k in ('mano_pose', 'mano_betas'))
    trans = derived_trans(layer, pose, betas, joints).numpy()
    metric = np.linalg.norm(theta[:, 58:61] - trans, axis=1)  # = MANO root vs stored wrist
    focal = 0.5 * (K[:, 0, 0] + K[:, 1, 1])
    scale = theta[:, 60]
    with np.errstate(divide='ignore', invalid='ignore'):
        root = np.concatenate([(theta[:, 58:60] - K[:, :2, 2]) / scale[:, None],
                               (focal / scale)[:, None]], 1)  # the toolbox's recover_root
    toolbox = np.linalg.norm(root - joints[:, TOOLBOX_ROOT], axis=1)
    return {'metric translation (MANO root + trans = stored wrist)': metric.mean() * 1000,
            'uv_root + scale (official toolbox: keypoint 9 at ((uv - pp) / s, f / s))':
                np.nan_to_num(toolbox, nan=np.inf).mean() * 1000}


def check(stack, mano_dir):
    from mmhandmim.hand_model import MANOLayer
    rows = []
    pose, betas = (torch.as_tensor(stack[k], dtype=torch.float64)
                   for k in ('mano_pose', 'mano_betas'))
    for flat in (False, True):
        for tips in TIP_CONVENTIONS:
            try:
                layer = MANOLayer(mano_dir, keypoint_order='freihand', fingertip_ids=tips,
                                  flat_hand_mean=flat).double()
            except (ValueError, KeyError):
                continue  # e.g. 'standin' tips with real MANO
            trans = derived_trans(layer, pose, betas, stack['keypoints_3d'])
            with torch.no_grad():
                out = layer(pose, betas, trans)
            j_err = np.linalg.norm(out['keypoints'].numpy() - stack['keypoints_3d'], axis=-1)
            row = dict(flat_hand_mean=flat, fingertips=tips, joints_mm=j_err.mean() * 1000,
                       tips_mm=j_err[:, [4, 8, 12, 16, 20]].mean() * 1000)
            if stack['has_verts']:
                v_err = np.linalg.norm(out['vertices'].numpy() - stack['vertices'], axis=-1)
                row['verts_mm'] = v_err.mean() * 1000
            rows.append(row)
    return rows, layer


def report_conventions(conventions):
    print('stored values 58-61 of the mano file, root error of each reading (mm):')
    for name, err in conventions.items():
        print(f'  {name}: {err:.3f}')
    name, err = min(conventions.items(), key=lambda kv: kv[1])
    verdict = name.split(' (')[0] if err < MATCH_MM else None
    print(f'this download stores: {verdict}' if verdict else
          f'this download stores neither reading (best: {name.split(" (")[0]}, {err:.1f} mm); '
          'the loader does not use these values')
    return verdict


def main(argv=None):
    args = parse_args(argv)
    with user_errors('check_mano_integrity.py'):
        stack = load_samples(args)
        rows, layer = check(stack, args.mano_dir)
    n = len(stack['mano_pose'])
    print(f'{n} samples; errors in mm (mean over samples and points), MANO translation '
          'derived from the stored joints')
    print(f'{"flat_hand_mean":<16}{"fingertips":<12}{"verts":>10}{"joints":>10}{"tips":>10}')
    for r in rows:
        print(f'{str(r["flat_hand_mean"]):<16}{r["fingertips"]:<12}'
              f'{r.get("verts_mm", float("nan")):>10.3f}{r["joints_mm"]:>10.3f}'
              f'{r["tips_mm"]:>10.3f}')
    best = min(rows, key=lambda r: (r.get('verts_mm', 0), r['joints_mm']))
    print(f'best match: flat_hand_mean={best["flat_hand_mean"]}, fingertip_ids='
          f'{best["fingertips"]!r} (vertices {best.get("verts_mm", float("nan")):.3f} mm, '
          f'joints {best["joints_mm"]:.3f} mm)')
    result = dict(rows=rows, best=best)
    if 'theta' in stack:
        result['conventions'] = stored_conventions(stack, layer)
        result['stored'] = report_conventions(result['conventions'])
    return result


if __name__ == '__main__':
    main()
