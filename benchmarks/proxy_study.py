"""Proxy replication of HandMIM's claims on generated hands (paper Tables 1, 3, 5 and Fig. 7).

    python benchmarks/proxy_study.py [--work-dir work_dirs/proxy_study] [--seeds 0 1]
                                     [--jobs 2] [--preset full|quick]

One command, resumable (re-run it after a crash: finished runs are reused, an interrupted
training resumes from its last epoch checkpoint). Stages:

1. generate a pre-training set of unlabeled stand-in hand crops and a labeled FreiHAND-layout
   train/evaluation split (the stand-in hand model, not MANO; fixed data seed 0);
2. pre-train the demo's tiny ViT (4 blocks, width 96, 64 px) with HandMIM, HandMIM without
   L_pose / L_patch / L_recon, and the iBOT baseline: same data, epochs and seeds; the loss
   switches are read from ``configs/handmim/*.py`` so the study runs what those configs run;
3. fine-tune the PyMAF-MANO estimator from each teacher backbone and from scratch with the same
   budget, plus partial fine-tuning with the first k blocks frozen (HandMIM vs iBOT, and a
   frozen random ViT as the floor), a lower fine-tuning lr for scratch / HandMIM / iBOT, and
   2x longer pre-training of HandMIM and iBOT (first seed only);
4. probe the frozen pre-trained features (``proxy_study_probes.py``): a ridge-regression
   keypoint probe and whether the class-token latent turns with the input;
5. write ``results.md`` (mean +- std over seeds and every run), ``results.json`` and
   ``partial_finetune.png`` into the work dir (``docs/proxy_study.md`` discusses them).

Every run is ``tools/train.py`` on a small config written to ``WORK/configs/`` that inherits
the demo configs (``configs/demo/``), so what runs here is what a user runs. With ``--jobs 2``
two runs share the 2 cores, one thread each (one thread also makes each run deterministic:
re-running the study reproduces its numbers).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.join(ROOT, 'benchmarks'))

from proxy_study_report import DEFAULT_LR  # noqa: E402

PRE_BASE = osp.join(ROOT, 'configs/demo/handmim_vit-tiny_demo.py')
FT_BASE = osp.join(ROOT, 'configs/demo/mesh_vit-tiny_freihand_demo.py')
#: pre-training variants -> the config whose loss switches they use
VARIANTS = {
    'handmim': 'configs/handmim_vit-s.py',
    'no-pose': 'configs/handmim/handmim_vit-s_no-pose.py',
    'no-patch': 'configs/handmim/handmim_vit-s_no-patch.py',
    'no-recon': 'configs/handmim/handmim_vit-s_no-recon.py',
    'ibot': 'configs/handmim/ibot_vit-s.py',
}
NUM_BLOCKS = 4  # the demo ViT's depth
FT_LR = DEFAULT_LR  # the demo fine-tuning config's Adam lr
PROBE_VERSION = 2  # bump when the probes change: probes.json of older ones is recomputed
PRESETS = {
    # ~2 h of 2 CPU cores for 2 seeds with --jobs 2 (see docs/proxy_study.md for the measured time)
    # versions: FreiHAND-layout training images per frame, green screen + (versions - 1)
    # cluttered backgrounds. FreiHAND's evaluation images have real backgrounds, so training on
    # the green screen alone would measure a background domain gap (the first run of the study
    # did: docs/proxy_study.md). 10 epochs of 2 versions = the 20 epochs of 1 it had, in steps.
    'full': dict(n_unlabeled=2048, unl_img=96, n_train=512, n_eval=256, fh_img=128, versions=2,
                 pre_epochs=8, ft_epochs=10, frozen=(2, 4), lr_sweep=(1e-4, ), epoch_sweep=(16, ),
                 # class/patch prototypes: the demo's 512, pinned (the tables were made with it)
                 prototypes=512,
                 # pre-training-only HandMIM runs (first seed) that test why the class-token
                 # loss stays at ln K (docs/proxy_study.md): 8x the prototypes, and the teacher
                 # temperature held at 0.04 instead of warming up to 0.07
                 cls_diagnostics=(dict(prototypes=4096), dict(teacher_temp=0.04))),
    # a smoke test of the whole chain (minutes); its numbers mean nothing
    'quick': dict(n_unlabeled=64, unl_img=96, n_train=32, n_eval=32, fh_img=128, versions=2,
                  pre_epochs=2, ft_epochs=1, frozen=(2, ), lr_sweep=(1e-4, ), epoch_sweep=(3, ),
                  prototypes=512, cls_diagnostics=(dict(prototypes=1024), )),
}
#: FreiHAND's names of its 4 training image versions, in file order
VERSION_NAMES = ('gs', 'hom', 'sample', 'auto')
METRICS = (('pa_mpjpe', 'PA-MPJPE (mm)'), ('pa_mpvpe', 'PA-MPVPE (mm)'), ('pa_f5', 'F@5'),
           ('pa_f15', 'F@15'))


def trivial_baselines(work, py=sys.executable):
    """Scores of the trivial baselines on the evaluation split (``mmhandmim.evaluation.
    baselines``): the hand model's zero pose and the training split's mean MANO parameters,
    one hand for every image, decoded by the fine-tuning's hand model and scored by the same
    function as the models: what fine-tuning must beat.

    The mean parameters are what ``tools/misc/compute_mean_mano_params.py`` computes for the
    head (written once to ``WORK/mean_mano_params.npz``)."""
    from mmengine.config import Config

    from mmhandmim.evaluation import load_gt
    from mmhandmim.evaluation.baselines import (baseline_hands, build_baseline_mano,
                                                evaluate_baselines)
    root = osp.join(work, 'data', 'freihand')
    npz = osp.join(work, 'mean_mano_params.npz')
    if not osp.isfile(npz):
        # one image version: the same frames, so the same mean, whatever the preset renders
        run([py, 'tools/misc/compute_mean_mano_params.py', FT_BASE, '--out', npz,
             '--cfg-options', f'train_dataloader.dataset.data_root={root}/',
             'train_dataloader.dataset.image_versions=[gs]'],
            osp.join(work, 'baselines.log'), 2)
    mano = build_baseline_mano(dict(Config.fromfile(FT_BASE).model.head.mano), 'freihand')
    e_xyz, e_verts = load_gt(root, 'evaluation', use_cache=False)
    scores = evaluate_baselines(baseline_hands(mano, npz), e_xyz, e_verts, 'freihand')
    return {name: {k: float(s[k]) for k, _ in METRICS} for name, s in scores.items()}


def log(msg):
    print(f'[proxy-study {time.strftime("%H:%M:%S")}] {msg}', flush=True)


def loss_switches(config):
    """``(loss_weights, use_pose_alignment)`` of a HandMIM config file."""
    from mmengine.config import Config
    model = Config.fromfile(osp.join(ROOT, config)).model
    return dict(model.loss_weights), bool(model.get('use_pose_alignment', True))


def write_config(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)
    return path


def pretrain_config(work, name, variant, seed, epochs, workers, prototypes, teacher_temp=None):
    """``teacher_temp``: None for the demo's warm-up 0.04 -> 0.07, else held at that value."""
    weights, align = loss_switches(VARIANTS[variant])
    e, k = epochs, prototypes
    hooks = ''
    if teacher_temp is not None:  # the base config's hooks, with the temperature held
        from mmengine.config import Config
        base_hooks = [dict(h) for h in Config.fromfile(PRE_BASE).custom_hooks]
        for h in base_hooks:
            if h['type'] == 'TeacherTempHook':
                h.update(warmup_temp=teacher_temp, temp=teacher_temp)
        hooks = f'\ncustom_hooks = {base_hooks!r}'
    return write_config(osp.join(work, 'configs', f'{name}.py'), f'''\
# proxy study: {variant} pre-training (loss switches of {VARIANTS[variant]}), seed {seed}
_base_ = [{PRE_BASE!r}]
max_epochs = {e}
model = dict(use_pose_alignment={align}, loss_weights={weights!r},
             projection_head=dict(out_dim={k}), distill_loss=dict(out_dim={k}))
train_dataloader = dict(num_workers={workers},
                        dataset=dict(data_root={osp.join(work, 'data/unlabeled/')!r}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, begin=0, end=1,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=max_epochs - 1, eta_min=1e-5, by_epoch=True,
         begin=1, end=max_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingWeightDecay', eta_min=0.4, T_max=max_epochs, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed={seed}){hooks}
''')


def finetune_config(work, name, init, seed, p, workers, frozen=0, lr=None):
    """``init``: a backbone checkpoint path, or None for random initialisation."""
    if init is None:  # configs/mesh/vit-s_pymaf_freihand_scratch.py's initialisation
        init_cfg = ("[dict(type='TruncNormal', layer='Linear', std=.02), "
                    "dict(type='Constant', layer='LayerNorm', val=1., bias=0.)]")
    else:
        init_cfg = f"dict(type='Pretrained', checkpoint={init!r}, prefix='backbone.')"
    e, root = p['ft_epochs'], osp.join(work, 'data/freihand/')
    versions = VERSION_NAMES[:p['versions']]
    return write_config(osp.join(work, 'configs', f'finetune_{name}.py'), f'''\
# proxy study: fine-tuning {name}
_base_ = [{FT_BASE!r}]
max_epochs = {e}
model = dict(backbone=dict(frozen_stages={frozen}, init_cfg={init_cfg}))
optim_wrapper = dict(optimizer=dict(lr={lr or FT_LR!r}))
train_dataloader = dict(num_workers={workers},
                        dataset=dict(data_root={root!r}, image_versions={versions!r}))
val_dataloader = dict(num_workers={workers}, dataset=dict(data_root={root!r}))
test_dataloader = val_dataloader
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=1e-5, by_epoch=True,
         begin=0, end=max_epochs, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=20),
                     checkpoint=dict(interval=1, max_keep_ckpts=1, save_best=None))
randomness = dict(seed={seed})
''')


def run(cmd, log_path, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               NUMBA_NUM_THREADS=str(threads), PYTHONWARNINGS='ignore')
    with open(log_path, 'a') as f:
        res = subprocess.run(cmd, cwd=ROOT, stdout=f, stderr=subprocess.STDOUT, env=env)
    if res.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed (exit {res.returncode}); see {log_path}')


def final_losses(log_path):
    """The loss terms of the last logged training iteration (``loss_*: value`` pairs)."""
    import re
    last = {}
    with open(log_path) as f:
        for line in f:
            if 'Epoch(train)' in line:
                last = {k: float(v) for k, v in re.findall(r'(loss_\w+): ([-\d.]+)', line)}
    return last


def last_val_metrics(work_dir):
    """The last validation line of the run's ``vis_data/scalars.json`` (mmengine's record)."""
    found = None
    for ts in sorted(os.listdir(work_dir)):
        path = osp.join(work_dir, ts, 'vis_data', 'scalars.json')
        if osp.isfile(path):
            with open(path) as f:
                for line in f:
                    rec = json.loads(line)
                    if 'mesh/pa_mpjpe' in rec:
                        found = rec
    if found is None:
        raise RuntimeError(f'no validation metrics under {work_dir}')
    return {k: found[f'mesh/{k}'] for k, _ in METRICS}


class Study:

    def __init__(self, args):
        self.args, self.p = args, PRESETS[args.preset]
        self.work = osp.abspath(args.work_dir)
        self.py = sys.executable
        self.threads = 1 if args.jobs > 1 else 2
        self.workers = 1 if args.jobs > 1 else 2
        self.t0 = time.time()

    def done_path(self, name):
        return osp.join(self.work, 'runs', name, 'DONE.json')

    def cached(self, name):
        path = self.done_path(name)
        if osp.isfile(path):
            with open(path) as f:
                return json.load(f)
        return None

    def finish(self, name, record):
        with open(self.done_path(name), 'w') as f:
            json.dump(record, f, indent=1)
        return record

    # --- stages -----------------------------------------------------------------------
    def generate(self):
        p, data = self.p, osp.join(self.work, 'data')
        gen = [self.py, 'tools/dataset_converters/generate_standin_data.py']
        os.makedirs(data, exist_ok=True)
        if not osp.isfile(osp.join(data, 'unlabeled', 'list.txt')):
            log(f'generating {p["n_unlabeled"]} unlabeled crops')
            run(gen + ['unlabeled', '--out-dir', osp.join(data, 'unlabeled'), '--num-train',
                       str(p['n_unlabeled']), '--img-size', str(p['unl_img']), '--seed', '0',
                       '--overwrite'], osp.join(data, 'generate.log'), 2)
        if not osp.isfile(osp.join(data, 'freihand', 'evaluation_xyz.json')):
            log(f'generating FreiHAND layout: {p["n_train"]} train / {p["n_eval"]} eval')
            run(gen + ['freihand', '--out-dir', osp.join(data, 'freihand'), '--num-train',
                       str(p['n_train']), '--num-eval', str(p['n_eval']),
                       '--versions', str(p['versions']),
                       '--img-size', str(p['fh_img']), '--seed', '1', '--overwrite'],
                osp.join(data, 'generate.log'), 2)

        self.check_data()

    @property
    def probe_train_version(self):
        """The cluttered-background training version the probes are fit on."""
        return VERSION_NAMES[self.p['versions'] - 1]

    def finetune_data(self):
        """What a fine-tuning's number depends on besides its init: recorded with each run."""
        return {k: self.p[k] for k in ('n_train', 'n_eval', 'fh_img', 'versions', 'ft_epochs')}

    def check_data(self):
        """Stop (never overwrite) when the work dir holds data or fine-tunings of other
        settings than this preset's, e.g. from an older version of the study."""
        info_path = osp.join(self.work, 'data', 'freihand', 'standin_info.json')
        with open(info_path) as f:
            info = json.load(f)
        have = (info['counts']['training']['frames'], info['counts']['evaluation']['frames'],
                info['versions'])
        want = (self.p['n_train'], self.p['n_eval'], self.p['versions'])
        if have != want:
            sys.exit(f'{info_path}: FreiHAND-layout data with (train, eval, versions) = {have}, '
                     f'this preset needs {want}. Use a new --work-dir (or move the old one).')
        runs = osp.join(self.work, 'runs')
        stale = []
        for name in sorted(os.listdir(runs)) if osp.isdir(runs) else []:
            rec = None if name.startswith('pretrain_') else self.cached(name)
            if rec is not None and rec.get('data') != self.finetune_data():
                stale.append(name)
        if stale:
            sys.exit(f'{runs}: fine-tunings made with other data or epochs than this preset '
                     f'({", ".join(stale[:4])}...). Use a new --work-dir (or move them).')

    def pretrain(self, variant, seed, epochs=None, prototypes=None, teacher_temp=None):
        """``epochs`` / ``prototypes`` / ``teacher_temp``: None for the preset's, else a sweep
        value (the run gets its own name)."""
        tag = variant + ''.join(f'_{c}{v:g}' for c, v in (
            ('e', epochs), ('p', prototypes), ('t', teacher_temp)) if v)
        epochs = epochs or self.p['pre_epochs']
        prototypes = prototypes or self.p['prototypes']
        name = f'pretrain_{tag}_s{seed}'
        rec = self.cached(name)
        if rec:
            if 'final_losses' not in rec:  # recorded before the study kept them
                rec.update(tag=tag, epochs=epochs, final_losses=final_losses(
                    osp.join(self.work, 'runs', name, 'run.log')))
                self.finish(name, rec)
            return rec
        wd = osp.join(self.work, 'runs', name)
        os.makedirs(wd, exist_ok=True)
        cfg = pretrain_config(self.work, name, variant, seed, epochs, self.workers, prototypes,
                              teacher_temp)
        t = time.time()
        log(f'{name}: start')
        run([self.py, 'tools/train.py', cfg, '--work-dir', wd, '--resume'],
            osp.join(wd, 'run.log'), self.threads)
        ckpt = osp.join(wd, f'epoch_{epochs}.pth')
        backbone = osp.join(wd, 'backbone.pth')
        run([self.py, 'tools/model_converters/extract_handmim_backbone.py', ckpt, backbone,
             '--force'], osp.join(wd, 'run.log'), self.threads)
        log(f'{name}: done in {time.time() - t:.0f} s')
        return self.finish(name, dict(name=name, variant=variant, tag=tag, epochs=epochs,
                                      prototypes=prototypes, teacher_temp=teacher_temp,
                                      seed=seed, checkpoint=ckpt, config=cfg, backbone=backbone,
                                      final_losses=final_losses(osp.join(wd, 'run.log')),
                                      seconds=time.time() - t))

    def finetune(self, init_name, seed, frozen=0, lr=None):
        """``lr``: None for the preset's fine-tuning lr, else a sweep value."""
        name = f'{init_name}_k{frozen}' + (f'_lr{lr:g}' if lr else '') + f'_s{seed}'
        rec = self.cached(name)
        if rec:
            return rec
        wd = osp.join(self.work, 'runs', name)
        os.makedirs(wd, exist_ok=True)
        init = None if init_name == 'scratch' else self.cached(
            f'pretrain_{init_name}_s{seed}')['backbone']
        cfg = finetune_config(self.work, name, init, seed, self.p, self.workers, frozen, lr)
        t = time.time()
        log(f'fine-tune {name}: start')
        run([self.py, 'tools/train.py', cfg, '--work-dir', wd, '--resume'],
            osp.join(wd, 'run.log'), self.threads)
        metrics = last_val_metrics(wd)
        log(f'fine-tune {name}: done in {time.time() - t:.0f} s, '
            f'PA-MPJPE {metrics["pa_mpjpe"]:.2f} mm')
        return self.finish(name, dict(name=name, init=init_name, seed=seed, frozen=frozen,
                                      lr=lr or FT_LR, data=self.finetune_data(),
                                      metrics=metrics, seconds=time.time() - t))

    def probes(self, pre, ft):
        from proxy_study_probes import run_probes
        path = osp.join(self.work, 'probes.json')
        if osp.isfile(path):
            with open(path) as f:
                res = json.load(f)
            if (res.get('pretrain_runs') == [r['name'] for r in pre]
                    and res.get('train_version') == self.probe_train_version
                    and res.get('probe_version') == PROBE_VERSION):
                return res
        log('probing the frozen pre-trained features')
        # the full fine-tunings from scratch and from HandMIM: features known to carry the pose
        finetuned = [(f'fine-tuned ({r["init"]} init)', r['seed'],
                      osp.join(self.work, 'runs', r['name'], f'epoch_{self.p["ft_epochs"]}.pth'))
                     for r in ft if r['init'] in ('scratch', 'handmim') and r['frozen'] == 0
                     and r['lr'] == FT_LR]
        res = run_probes(self.work, pre, self.args.seeds, osp.join(self.work, 'data/freihand'),
                         FT_BASE, PRE_BASE, self.probe_train_version, finetuned)
        res['probe_version'] = PROBE_VERSION
        res['pretrain_runs'] = [r['name'] for r in pre]
        with open(path, 'w') as f:
            json.dump(res, f, indent=1)
        return res

    def parallel(self, fn, jobs):
        """``fn(*job)`` for every job, ``--jobs`` at a time; the first failure stops the rest."""
        pool = ThreadPoolExecutor(self.args.jobs)
        try:
            return list(pool.map(lambda job: fn(*job), jobs))
        finally:
            pool.shutdown(cancel_futures=True)

    def record_call(self):
        """Accumulate the wall time of every call (a resumed study adds its calls up)."""
        path = osp.join(self.work, 'calls.json')
        calls = json.load(open(path)) if osp.isfile(path) else []
        with open(path, 'w') as f:
            json.dump(calls + [time.time() - self.t0], f)

    def main(self):
        a = self.args
        self.generate()
        pre_jobs = [(v, s) for s in a.seeds for v in VARIANTS]
        # does longer pre-training get the class-token loss off ln K? (first seed only)
        pre_jobs += [(v, a.seeds[0], e) for e in self.p['epoch_sweep'] for v in ('handmim', 'ibot')]
        pre_jobs += [('handmim', a.seeds[0], None, d.get('prototypes'), d.get('teacher_temp'))
                     for d in self.p['cls_diagnostics']]
        pre = self.parallel(self.pretrain, pre_jobs)
        ft_jobs = [(v, s, 0) for s in a.seeds for v in ['scratch', *VARIANTS]]
        ft_jobs += [(v, s, k) for s in a.seeds for k in self.p['frozen']
                    for v in ('handmim', 'ibot')]
        # random features under a frozen backbone: the floor pre-trained features must beat
        ft_jobs += [('scratch', s, NUM_BLOCKS) for s in a.seeds]
        # does a gentler fine-tuning keep more of what pre-training learnt?
        ft_jobs += [(v, s, 0, lr) for lr in self.p['lr_sweep'] for s in a.seeds
                    for v in ('scratch', 'handmim', 'ibot')]
        ft_jobs += [(f'{v}_e{e}', a.seeds[0], 0) for e in self.p['epoch_sweep']
                    for v in ('handmim', 'ibot')]
        ft = self.parallel(self.finetune, ft_jobs)
        probes = self.probes(pre, ft)
        from proxy_study_report import write_report
        wall = sum(r['seconds'] for r in pre + ft)
        self.record_call()
        baselines = trivial_baselines(self.work, self.py)
        write_report(self.work, self.p, a, pre, ft, probes, NUM_BLOCKS, baselines)
        log(f'finished: {len(pre)} pre-trainings, {len(ft)} fine-tunings '
            f'({wall / 60:.0f} run-minutes; {(time.time() - self.t0) / 60:.1f} min this call). '
            f'Report: {osp.join(self.work, "results.md")}')


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--work-dir', default='work_dirs/proxy_study')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    ap.add_argument('--jobs', type=int, default=2, help='runs in parallel (1 thread each)')
    ap.add_argument('--preset', choices=sorted(PRESETS), default='full')
    args = ap.parse_args(argv)
    if len(args.seeds) < 1 or args.jobs < 1:
        ap.error('need at least one seed and one job')
    return args


if __name__ == '__main__':
    Study(parse_args()).main()
