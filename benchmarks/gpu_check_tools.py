"""The tool-path section of ``benchmarks/gpu_check.py``: the user-facing tools on generated
stand-in data, as a user runs them on one GPU.

Pre-training (``configs/demo/handmim_vit-tiny_demo.py``) and fine-tuning
(``configs/demo/mesh_vit-tiny_freihand_demo.py``), both shrunk further with ``--cfg-options``
to 2 iterations an epoch: ``tools/dist_train.sh CONFIG 1`` for 1 epoch (NCCL on a GPU; gloo on
CPU through the compat layer), the same with ``--resume`` and 2 epochs (the resumed run must
say ``resumed epoch: 1``; the fine-tuning one validates after epoch 2), then ``tools/test.py``
on the fine-tuned checkpoint. On a GPU the pre-training runs use the config's own mixed
precision (AmpOptimWrapper, float16) and the fine-tuning runs add ``--amp``. The two chains
run side by side (they are small; on 2 CPU cores
that halves the wall time). Each step records its command, exit code, wall time, the
distributed backend it logged, and the last log line on failure; full logs go to
``OUT/tool_path/*.log``.
"""
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRETRAIN_DEMO = 'configs/demo/handmim_vit-tiny_demo.py'
MESH_DEMO = 'configs/demo/mesh_vit-tiny_freihand_demo.py'
SHRINK = ['train_dataloader.batch_size=4', 'train_dataloader.num_workers=0',
          'train_dataloader.persistent_workers=False', 'default_hooks.checkpoint.interval=1',
          'default_hooks.logger.interval=1']


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def generate_data(root):
    """8 unlabeled crops and a FreiHAND layout of 8 training + 4 evaluation frames, 96 px."""
    from mmhandmim.standin.generation import generate_freihand, generate_unlabeled
    unlabeled, freihand = os.path.join(root, 'unlabeled'), os.path.join(root, 'freihand')
    generate_unlabeled(unlabeled, num=8, img_size=96, seed=0, progress=False, overwrite=True)
    generate_freihand(freihand, num_train=8, num_eval=4, versions=1, img_size=96, seed=0,
                      progress=False, overwrite=True)
    return unlabeled, freihand


def pretrain_opts(data, epochs):
    return [f'train_dataloader.dataset.data_root={data}/', f'train_cfg.max_epochs={epochs}'
            ] + SHRINK


def mesh_opts(data, epochs):
    loaders = [f'{split}_dataloader.{k}' for split in ('train', 'val', 'test')
               for k in (f'dataset.data_root={data}/', 'dataset.image_size=96')]
    return loaders + SHRINK + [
        'train_dataloader.dataset.image_versions=[gs]', 'val_dataloader.batch_size=4',
        'test_dataloader.batch_size=4', 'model.backbone.init_cfg=None',
        f'train_cfg.max_epochs={epochs}', 'train_cfg.val_interval=2']


def run_step(name, cmd, log_dir, timeout, env=None):
    """Run one tool; returns its record (exit code, wall time, the distributed backend of a
    distributed run, failure line) and its output."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1',
                    PYTHON=sys.executable, **(env or {}))
    t = time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                             env=full_env)
        rc, output = res.returncode, res.stdout + res.stderr
    except subprocess.TimeoutExpired as exc:
        rc = 'timeout'
        output = ''.join(x.decode() if isinstance(x, bytes) else (x or '')
                         for x in (exc.stdout, exc.stderr)) + f'\ntimed out after {timeout} s'
    wall = time.perf_counter() - t
    log = os.path.join(log_dir, f'{name}.log')
    with open(log, 'w') as f:
        f.write(' '.join(cmd) + '\n\n' + output)
    lines = [ln for ln in output.splitlines() if ln.strip()]
    # the config dump names a backend even for a non-distributed run: only trust it when the
    # run was launched by torchrun
    backend = re.findall(r"backend='(\w+)'", output) if any(
        c.endswith('dist_train.sh') for c in cmd) else []
    r = dict(step=name, cmd=' '.join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c
                                     for c in cmd),
             exit_code=rc, wall_s=wall, log=log, backend=backend[-1] if backend else None)
    if rc != 0:
        r['last_line'] = lines[-1][:300] if lines else ''
    return r, output


def dist_train(config, work_dir, opts, *extra):
    return ['bash', os.path.join(ROOT, 'tools/dist_train.sh'), config, '1', '--work-dir',
            work_dir, *extra, '--cfg-options', *opts]


def pretrain_chain(data, work, log_dir, timeout):
    records = []
    wd = os.path.join(work, 'pretrain')
    for name, epochs, extra in (('pretrain train', 1, ()), ('pretrain resume', 2, ('--resume', ))):
        r, out = run_step(name, dist_train(PRETRAIN_DEMO, wd, pretrain_opts(data, epochs),
                                           *extra), log_dir, timeout, dict(PORT=str(free_port())))
        if extra:
            r['resumed'] = 'resumed epoch: 1' in out
        records.append(r)
        if r['exit_code'] != 0:
            break
    return records


def mesh_chain(data, work, log_dir, timeout, amp=()):
    """Fine-tuning train, resume, test; ``amp`` (``('--amp',)`` on a GPU) adds mixed precision
    to both training runs (the fine-tuning configs are float32; pre-training's declare AMP)."""
    records = []
    wd = os.path.join(work, 'finetune')
    for name, epochs, extra in (('finetune train', 1, amp),
                                ('finetune resume', 2, ('--resume', ) + tuple(amp))):
        r, out = run_step(name, dist_train(MESH_DEMO, wd, mesh_opts(data, epochs), *extra),
                          log_dir, timeout, dict(PORT=str(free_port())))
        if extra:
            r['resumed'] = 'resumed epoch: 1' in out
            r['validated'] = 'Epoch(val)' in out
        records.append(r)
        if r['exit_code'] != 0:
            return records
    cmd = [sys.executable, 'tools/test.py', MESH_DEMO, os.path.join(wd, 'epoch_2.pth'),
           '--work-dir', os.path.join(work, 'test'), '--cfg-options', *mesh_opts(data, 2)]
    r, out = run_step('finetune test', cmd, log_dir, timeout)
    metric = re.findall(r'mesh/pa_mpjpe: ([-0-9.e+na]+)', out)
    r['pa_mpjpe_mm'] = metric[-1] if metric else None
    records.append(r)
    return records


def tool_path_section(ctx):
    base = os.path.join(ctx.out_dir, 'tool_path')
    log_dir, work = os.path.join(base, 'logs'), os.path.join(base, 'work_dirs')
    os.makedirs(log_dir, exist_ok=True)
    t = time.perf_counter()
    unlabeled, freihand = generate_data(os.path.join(base, 'data'))
    out = dict(data_s=time.perf_counter() - t, steps=[])
    # each step may take what is left of the budget, but not forever
    timeout = int(max(60, min(600, ctx.budget.left())))
    results = {}
    amp = ('--amp', ) if ctx.device == 'cuda' else ()  # --amp is refused without a GPU
    chains = dict(pretrain=(pretrain_chain, unlabeled, {}),
                  finetune=(mesh_chain, freihand, dict(amp=amp)))
    threads = [threading.Thread(target=lambda k=k, fn=fn, d=d, kw=kw: results.__setitem__(
        k, fn(d, work, log_dir, timeout, **kw))) for k, (fn, d, kw) in chains.items()]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    for k in chains:
        out['steps'] += results.get(k, [dict(step=k, exit_code='not run', wall_s=0.)])
    expected = ('pretrain train', 'pretrain resume', 'finetune train', 'finetune resume',
                'finetune test')
    ran = {r['step']: r for r in out['steps']}
    out['errors'] = [f"{k}: exit {ran[k]['exit_code']}: {ran[k].get('last_line', '')}"
                     if k in ran else f'{k}: not run (an earlier step failed)' for k in expected
                     if k not in ran or ran[k]['exit_code'] != 0]
    out['errors'] += [f"{k}: did not resume ('resumed epoch: 1' missing)" for k in expected
                      if k in ran and ran[k].get('resumed') is False]
    want = 'nccl' if ctx.device == 'cuda' else 'gloo'
    out['errors'] += [f"{r['step']}: backend {r['backend']}, expected {want}"
                      for r in out['steps'] if 'train' in r['step'] or 'resume' in r['step']
                      if r.get('backend') not in (None, want)]
    return out
