"""Render predicted hand meshes over their images: a PNG grid of overlays.

    python tools/test.py CONFIG CKPT --out preds.pkl
    python tools/analysis/render_predictions.py CONFIG preds.pkl OUT.png [--num 8]

The config gives the test dataset (for each sample's image and original intrinsics K) and the
hand model's faces; predictions are in the dataset's camera frame (``HandMeshEstimator``).
"""
import argparse
import os.path as osp
import pickle
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmhandmim  # noqa: E402,F401

import cv2  # noqa: E402
import numpy as np  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402

from mmhandmim.hand_model import skeleton_links  # noqa: E402
from mmhandmim.utils.cli import check_file, user_errors  # noqa: E402
from mmhandmim.visualization import draw_keypoints, make_grid, render_mesh  # noqa: E402


def render_predictions(cfg, preds, num=8):
    from mmpose.registry import DATASETS, MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        ds_cfg = dict(cfg.test_dataloader.dataset, pipeline=[])
        dataset = DATASETS.build(ds_cfg)
        faces = MODELS.build(cfg.model.head.mano).faces.numpy()
    tiles = []
    for res in preds[:num]:
        info = dataset.get_data_info(int(res['sample_idx']))
        img = cv2.imread(info['img_path'])
        pred = res['pred_instances']
        overlay = render_mesh(np.asarray(pred['vertices'][0], np.float64), faces,
                              info['cam_K'][0], img.shape[:2], color=(0.85, 0.55, 0.45),
                              image=img)
        tiles.append(draw_keypoints(overlay, pred['keypoints'][0],
                                    links=skeleton_links('freihand'), radius=1,
                                    thickness=1))
    return make_grid(tiles, ncols=min(4, len(tiles)))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('pred', help='pickle written by tools/test.py --out')
    p.add_argument('out', help='PNG to write')
    p.add_argument('--num', type=int, default=8)
    args = p.parse_args(argv)
    with user_errors('render_predictions.py'):
        check_file(args.config, 'config')
        check_file(args.pred, 'prediction pickle')
        cfg = Config.fromfile(args.config)
        with open(args.pred, 'rb') as f:
            preds = pickle.load(f)
        grid = render_predictions(cfg, preds, args.num)
        cv2.imwrite(args.out, grid)
    print(f'wrote {args.out} ({min(args.num, len(preds))} predictions)')


if __name__ == '__main__':
    main()
