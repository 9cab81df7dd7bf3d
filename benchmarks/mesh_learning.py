"""Does mesh fine-tuning learn? From scratch on generated data, against the trivial baselines.

    python benchmarks/mesh_learning.py [--work-dir work_dirs/mesh_learning]
        [--sizes 512 2048] [--ho3d-size 512] [--preset full|quick]

One command, resumable (finished runs are reused; re-run after a crash). For each training
size it generates a FreiHAND-layout set (the stand-in hand model, not MANO; green screen +
one cluttered rendering per frame) with a held-out evaluation split of cluttered images, and
an HO3D-layout set stored with ``flat_hand_mean=True`` as real HO3D. On each it trains, with
``tools/train.py`` and the demo's fine-tuning config (``configs/demo/``) from random
initialisation:

* ``scratch``: the whole estimator;
* ``frozen-random``: the same head on a frozen random ViT (``frozen_stages`` = all blocks),
  so "the backbone matters" is measured, not assumed;

then writes the submission with ``tools/test.py`` and scores it with the standalone evaluator
(``tools/analysis/eval_hand_mesh.py --baseline-mano standin --mean-params``), which also
scores the trivial baselines on the same split with the same functions: the constant hand
(the hand model's zero pose) and the training-set mean pose
(``tools/misc/compute_mean_mano_params.py``). Prints, and writes to ``WORK/results.md`` /
``results.json``, PA-MPJPE / PA-MPVPE / MPJPE for every run and baseline, and the ratios the
mesh fine-tuning targets are stated in (model / constant hand, model / frozen random).
"""
import argparse
import hashlib
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

FT_BASE = osp.join(ROOT, 'configs/demo/mesh_vit-tiny_freihand_demo.py')
PY = sys.executable
#: configs/mesh/vit-s_pymaf_freihand_scratch.py's initialisation of a ViT from scratch
SCRATCH_INIT = ("[dict(type='TruncNormal', layer='Linear', std=.02), "
                "dict(type='Constant', layer='LayerNorm', val=1., bias=0.)]")
PRESETS = {
    # epochs per size (512 / 1,280 steps of batch 32 for 512 / 2,048 frames x 2 renderings;
    # the larger size gets more steps: its error still fell at 1,250 steps, measured)
    'full': dict(n_eval=256, img=128, epochs={512: 16, 2048: 10}, ho3d_size=512, ho3d_epochs=12,
                 ho3d_seqs=16),
    # a smoke test of the whole chain (minutes); its numbers mean nothing
    'quick': dict(n_eval=16, img=128, epochs={32: 1}, ho3d_size=64, ho3d_epochs=1,
                  ho3d_seqs=2),
}
NUM_BLOCKS = 4  # the demo ViT's depth
ROWS = (('pa_mpjpe', 'PA-MPJPE'), ('pa_mpvpe', 'PA-MPVPE'), ('mpjpe', 'MPJPE'))


def log(msg):
    print(f'[mesh-learning {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def run(cmd, log_path, threads=2):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               PYTHONWARNINGS='ignore')
    with open(log_path, 'a') as f:
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {res.returncode}); see {log_path}')


def write(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return path


# --- data ----------------------------------------------------------------------------------
def make_freihand(work, n, p):
    root = osp.join(work, 'data', f'freihand_{n}')
    if not osp.isfile(osp.join(root, 'standin_info.json')):
        from mmhandmim.standin.generation import generate_freihand
        log(f'generating FreiHAND-layout data: {n} frames x 2 renderings, {p["n_eval"]} '
            'held-out cluttered evaluation images')
        # seed 0 for every size: the evaluation split is the same images
        generate_freihand(root, num_train=n, num_eval=p['n_eval'], versions=2,
                          img_size=p['img'], seed=0, overwrite=True, progress=False)
    return root


def make_ho3d(work, n, p):
    root = osp.join(work, 'data', f'ho3d_{n}')
    if not osp.isfile(osp.join(root, 'standin_info.json')):
        from mmhandmim.standin.generation import generate_ho3d
        log(f'generating HO3D-layout data (flat_hand_mean=True): {n} frames in '
            f'{p["ho3d_seqs"]} sequences, {p["n_eval"]} evaluation frames')
        generate_ho3d(root, num_train=n, num_eval=p['n_eval'], num_seqs=p['ho3d_seqs'],
                      seed=0, overwrite=True, progress=False, flat_hand_mean=True)
    return root


# --- configs -------------------------------------------------------------------------------
def dataset_block(kind, root, img):
    """Train/test dataset settings of the demo config, pointed at ``root``."""
    if kind == 'freihand':
        return f'''\
train_dataloader = dict(num_workers=0, dataset=dict(data_root={root + '/'!r},
                        image_versions=('gs', 'hom'), image_size={img}))
val_dataloader = dict(num_workers=0, dataset=dict(data_root={root + '/'!r}, image_size={img}))
test_dataloader = val_dataloader
'''
    # HO3D: crops around the projected joints (train) / HO3D's hand box (evaluation), padding
    # 1.5 as configs/_base_/datasets/ho3d_mesh.py; the demo's 64 px augmentation
    return f'''\
input_size = (64, 64)  # the demo config's
_pipe_train = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.5),
               dict(type='RandomBBoxTransform', shift_factor=0.05, scale_factor=(0.9, 1.1),
                    rotate_factor=30.0, rotate_prob=0.5),
               dict(type='MeshTopdownAffine', input_size=input_size),
               dict(type='PhotometricDistortion'), dict(type='PackMeshInputs')]
_pipe_test = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.5),
              dict(type='MeshTopdownAffine', input_size=input_size),
              dict(type='PackMeshInputs')]
train_dataloader = dict(num_workers=0, dataset=dict(
    _delete_=True, type='HO3DMeshDataset', data_root={root + '/'!r}, split='train',
    pipeline=_pipe_train))
val_dataloader = dict(num_workers=0, dataset=dict(
    _delete_=True, type='HO3DMeshDataset', data_root={root + '/'!r}, split='evaluation',
    test_mode=True, pipeline=_pipe_test))
test_dataloader = val_dataloader
val_evaluator = dict(protocol='ho3d')
test_evaluator = val_evaluator
'''


def finetune_config(work, name, kind, root, epochs, frozen, img):
    # one `model = dict(...)` only: a second top-level assignment would replace the first
    # (the HO3D runs once lost their random initialisation and frozen stages that way)
    head = ("\n           head=dict(mano=dict(flat_hand_mean=True)),"
            if kind == 'ho3d' else '')
    return write(osp.join(work, 'configs', f'{name}.py'), f'''\
# mesh learning benchmark: {name}
_base_ = [{FT_BASE!r}]
max_epochs = {epochs}
model = dict(backbone=dict(frozen_stages={NUM_BLOCKS if frozen else -1},
                           init_cfg={SCRATCH_INIT}),{head})
{dataset_block(kind, root, img)}
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs + 1)  # scored after training
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None))
randomness = dict(seed=0)
''')


# --- one run -------------------------------------------------------------------------------
def mean_params(work, data, cfg):
    """The training set's mean MANO parameters (depend on the data only)."""
    out = osp.join(work, 'runs', f'{data}_mean_mano_params.npz')
    if not osp.isfile(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
        run([PY, 'tools/misc/compute_mean_mano_params.py', cfg, '--out', out],
            osp.join(work, 'runs', f'{data}_mean_params.log'))
    return out


def config_digest(cfg):
    """Hash of the fully resolved config (base files included), to tell stale runs."""
    from mmengine.config import Config
    return hashlib.sha1(Config.fromfile(cfg).pretty_text.encode()).hexdigest()[:16]


def read_text(path):
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read()


def train_and_score(work, name, cfg, kind, root, epochs, mean_npz, flat_hand_mean):
    rdir = osp.join(work, 'runs', name)
    done = osp.join(rdir, 'DONE.json')
    digest, digest_file = config_digest(cfg), osp.join(rdir, 'digest')
    if osp.isdir(rdir) and read_text(digest_file) != digest:
        # an earlier run of another config (the configs changed since): keep it, start afresh
        stale = f'{rdir}.stale-{time.strftime("%Y%m%d_%H%M%S")}'
        os.rename(rdir, stale)
        log(f'{name}: the config changed since the earlier run; moved it to {stale}')
    if osp.isfile(done):
        with open(done) as f:
            return json.load(f)
    os.makedirs(rdir, exist_ok=True)
    write(digest_file, digest)
    t0 = time.time()
    log(f'{name}: training ({epochs} epochs)')
    run([PY, 'tools/train.py', cfg, '--work-dir', rdir, '--resume'],
        osp.join(rdir, 'train.log'))
    train_s = time.time() - t0
    ckpt = osp.join(rdir, f'epoch_{epochs}.pth')
    sub = osp.join(rdir, 'submission')
    run([PY, 'tools/test.py', cfg, ckpt, '--work-dir', osp.join(rdir, 'test'),
         '--cfg-options', 'test_evaluator.format_only=True',
         f'test_evaluator.outfile_dir={sub}', 'test_evaluator.overwrite=True'],
        osp.join(rdir, 'test.log'))
    scores_dir = osp.join(rdir, 'scores')
    run([PY, 'tools/analysis/eval_hand_mesh.py', '--pred', osp.join(sub, 'pred.json'),
         '--gt-dir', root, '--protocol', kind, '--out-dir', scores_dir,
         '--baseline-mano', 'standin', '--mean-params', mean_npz,
         '--baseline-flat-hand-mean', 'true' if flat_hand_mean else 'false'],
        osp.join(rdir, 'eval.log'))
    with open(osp.join(scores_dir, 'scores.json')) as f:
        scores = json.load(f)
    with open(osp.join(scores_dir, 'baselines.json')) as f:
        baselines = json.load(f)
    rec = dict(name=name, epochs=epochs, train_s=round(train_s, 1), config_digest=digest,
               model={k: scores[k] for k, _ in ROWS},
               baselines={b: {k: v[k] for k, _ in ROWS}
                          for b, v in baselines['scores'].items()})
    with open(done, 'w') as f:
        json.dump(rec, f, indent=1)
    log(f'{name}: PA-MPJPE {rec["model"]["pa_mpjpe"]:.2f} mm (constant hand '
        f'{rec["baselines"]["constant"]["pa_mpjpe"]:.2f}), {train_s / 60:.1f} min')
    return rec


# --- report --------------------------------------------------------------------------------
def report(work, groups):
    lines = ['| data | run | ' + ' | '.join(h + ' (mm)' for _, h in ROWS) +
             ' | PA-MPJPE / constant | PA-MPJPE / frozen random |',
             '| --- | --- |' + ' --- |' * (len(ROWS) + 2)]
    for data, recs in groups.items():
        base = recs['scratch']['baselines']
        frozen = recs['frozen-random']['model']['pa_mpjpe']
        rows = [(r, recs[r]['model']) for r in ('scratch', 'frozen-random')]
        rows += [({'constant': 'constant hand', 'mean_pose': 'training-set mean pose'}[b],
                  base[b]) for b in ('constant', 'mean_pose') if b in base]
        for label, s in rows:
            lines.append(f'| {data} | {label} | ' + ' | '.join(f'{s[k]:.2f}' for k, _ in ROWS)
                         + f' | {s["pa_mpjpe"] / base["constant"]["pa_mpjpe"]:.3f} | '
                         f'{s["pa_mpjpe"] / frozen:.3f} |')
    text = '\n'.join(lines)
    write(osp.join(work, 'results.md'), text + '\n')
    with open(osp.join(work, 'results.json'), 'w') as f:
        json.dump(groups, f, indent=1)
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/mesh_learning')
    parser.add_argument('--preset', default='full', choices=sorted(PRESETS))
    parser.add_argument('--sizes', type=int, nargs='+', help='FreiHAND training frames')
    parser.add_argument('--ho3d-size', type=int, help='HO3D training frames (0: skip)')
    args = parser.parse_args(argv)
    p = PRESETS[args.preset]
    sizes = args.sizes or sorted(p['epochs'])
    ho3d_size = p['ho3d_size'] if args.ho3d_size is None else args.ho3d_size
    work = osp.abspath(args.work_dir)
    t0 = time.time()
    jobs = [('freihand', n, p['epochs'].get(n, max(4, 12 * 2048 // max(n, 1))))
            for n in sizes]
    if ho3d_size:
        jobs.append(('ho3d', ho3d_size, p['ho3d_epochs']))
    groups = {}
    for kind, n, epochs in jobs:
        root = (make_freihand if kind == 'freihand' else make_ho3d)(work, n, p)
        data = f'{kind} {n}'
        groups[data] = {}
        for variant in ('scratch', 'frozen-random'):
            name = f'{kind}{n}_{variant}'
            cfg = finetune_config(work, name, kind, root, epochs, variant != 'scratch',
                                  p['img'])
            npz = mean_params(work, f'{kind}{n}', cfg)
            groups[data][variant] = train_and_score(work, name, cfg, kind, root, epochs, npz,
                                                    kind == 'ho3d')
    text = report(work, groups)
    print(text)
    log(f'done in {(time.time() - t0) / 60:.1f} min; {osp.join(work, "results.md")}')


if __name__ == '__main__':
    main()
