"""Check a dataset's stored MANO parameters against its stored vertices and joints.

Re-poses MANO from the stored parameters under each convention (``flat_hand_mean`` on/off,
each fingertip-id convention) and reports how well it reproduces the stored vertices (where
stored) and joints, so a user can verify a download and the loader's conventions::

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

TIP_CONVENTIONS = ('freihand', 'ho3d', 'common', 'standin')


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
    idx = np.linspace(0, len(ds) - 1, min(args.num_samples, len(ds))).round().astype(int)
    infos = [ds.get_data_info(int(i)) for i in np.unique(idx)]
    if not all(i['has_mano'][0] for i in infos):
        raise SystemExit(f'{args.dataset} split has no MANO parameters to check')
    stack = {k: np.concatenate([i[k] for i in infos]) for k in
             ('mano_pose', 'mano_betas', 'mano_trans', 'keypoints_3d', 'vertices')}
    stack['has_verts'] = bool(np.abs(stack['vertices']).sum() > 0)
    return stack


def check(stack, mano_dir):
    from mmhandmim.hand_model import MANOLayer
    rows = []
    pose, betas, trans = (torch.as_tensor(stack[k], dtype=torch.float64)
                          for k in ('mano_pose', 'mano_betas', 'mano_trans'))
    for flat in (False, True):
        for tips in TIP_CONVENTIONS:
            try:
                layer = MANOLayer(mano_dir, keypoint_order='freihand', fingertip_ids=tips,
                                  flat_hand_mean=flat).double()
            except (ValueError, KeyError):
                continue  # e.g. 'standin' tips with real MANO
            with torch.no_grad():
                out = layer(pose, betas, trans)
            j_err = np.linalg.norm(out['keypoints'].numpy() - stack['keypoints_3d'], axis=-1)
            row = dict(flat_hand_mean=flat, fingertips=tips, joints_mm=j_err.mean() * 1000,
                       tips_mm=j_err[:, [4, 8, 12, 16, 20]].mean() * 1000)
            if stack['has_verts']:
                v_err = np.linalg.norm(out['vertices'].numpy() - stack['vertices'], axis=-1)
                row['verts_mm'] = v_err.mean() * 1000
            rows.append(row)
    return rows


def main(argv=None):
    args = parse_args(argv)
    with user_errors('check_mano_integrity.py'):
        stack = load_samples(args)
        rows = check(stack, args.mano_dir)
    print(f'{len(stack["mano_pose"])} samples; errors in mm (mean over samples and points)')
    print(f'{"flat_hand_mean":<16}{"fingertips":<12}{"verts":>10}{"joints":>10}{"tips":>10}')
    for r in rows:
        print(f'{str(r["flat_hand_mean"]):<16}{r["fingertips"]:<12}'
              f'{r.get("verts_mm", float("nan")):>10.3f}{r["joints_mm"]:>10.3f}'
              f'{r["tips_mm"]:>10.3f}')
    best = min(rows, key=lambda r: (r.get('verts_mm', 0), r['joints_mm']))
    print(f'best match: flat_hand_mean={best["flat_hand_mean"]}, fingertip_ids='
          f'{best["fingertips"]!r} (vertices {best.get("verts_mm", float("nan")):.3f} mm, '
          f'joints {best["joints_mm"]:.3f} mm)')
    return rows


if __name__ == '__main__':
    main()
