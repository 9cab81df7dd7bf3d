"""Inference latency and throughput of the mesh estimator (ViT + PyMAF-MANO head) and where
the time goes: backbone, head (pyramid + point features + regressors), MANO.

Usage: python benchmarks/bench_mesh_inference.py [--archs s b] [--batches 1 32]
           [--repeats 10] [--warmup 1] [--budget 30] [--threads N] [--device {cpu,cuda}]
           [--json OUT]

The model is ``configs/_base_/models/mesh_vit-s_pymaf.py`` (224 px, the config's head
settings); ViT-B is the same with ``arch='base'`` and a 768-channel head input. The hand
model is the stand-in (``model_path='standin'``, not MANO; same size as MANO: 778 vertices,
16 joints), with random weights: timings do not depend on either. Inputs are already
normalised (B, 3, 224, 224) tensors plus one data sample per image (crop K, warp); the data
preprocessor and data loading are not timed.

One timed call is ``model.predict`` under ``torch.inference_mode``: backbone
(``extract_feat``), head forward (its 3 feedback iterations, each ending in a MANO forward
inside ``head.decode``) and post-processing (axis-angle, numpy ``InstanceData``, mapping back
to the original image). The parts are timed inside the same calls: ``extract_feat`` and
``head.forward`` wrapped with timers, the MANO layer's forward with forward (pre-)hooks;
"head" is ``head.forward`` minus MANO. On CUDA every timer boundary synchronises. Reported
per (arch, batch): median ms per call and per image, images/s at the median, the parts'
shares of a call, and the head + MANO share of the forward (backbone + head forward), whose
target is under 15 %. ``--repeats`` timed calls follow ``--warmup`` untimed ones, fewer when
the warm-up call says ``--budget`` seconds would be exceeded (at least 3).

Also printed, independent of machine load: GFLOPs per image of backbone, head (and its
deconvolution pyramid) and MANO (``torch.utils.flop_counter``), and the process CPU time per
image (all threads; on a shared machine wall time includes waiting for other processes,
so the load average is printed too).
"""
import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim  # noqa: E402,F401  (compat fixes + registrations, before mmengine)
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402

CONFIG = 'configs/_base_/models/mesh_vit-s_pymaf.py'
ARCHS = dict(s=dict(name='ViT-S', arch='deit-small', in_channels=384),
             b=dict(name='ViT-B', arch='base', in_channels=768))
HEAD_SHARE_TARGET = 0.15
#: parts of a predict call (backbone + head + MANO + post-processing)
PARTS = ('backbone', 'head', 'mano', 'post')
#: the head's parts (MANO excluded; other: decode's projection, camera, glue)
HEAD_PARTS = ('pyramid', 'points', 'regressors', 'head_other')


def build_model(arch, device):
    cfg = Config.fromfile(os.path.join(ROOT, CONFIG))
    spec = ARCHS[arch]
    cfg.model.backbone.arch = spec['arch']
    cfg.model.backbone.pop('init_cfg', None)
    cfg.model.head.in_channels = spec['in_channels']
    cfg.model.head.mano.model_path = 'standin'
    with DefaultScope.overwrite_default_scope('mmpose'):
        from mmpose.registry import MODELS
        model = MODELS.build(cfg.model)
    return model.to(device).eval()


def make_batch(batch, input_size, device, seed=0):
    """Normalised inputs and data samples (crop K of a ~0.6 m hand, identity warp)."""
    g = torch.Generator().manual_seed(seed)
    w, h = input_size
    inputs = torch.randn(batch, 3, h, w, generator=g).to(device)
    K = torch.tensor([[5.0 * w, 0, w / 2], [0, 5.0 * w, h / 2], [0, 0, 1]])
    samples = []
    for _ in range(batch):
        ds = PoseDataSample(metainfo=dict(warp_mat=np.array([[1., 0, 0], [0, 1., 0]]),
                                          input_size=(w, h)))
        ds.gt_instances = InstanceData(bboxes=np.array([[0, 0, w, h]], np.float32),
                                       bbox_scores=np.ones(1, np.float32))
        ds.gt_instance_labels = InstanceData(cam_K=K[None].to(device))
        samples.append(ds)
    return inputs, samples


class PartTimer:
    """Wall time of ``extract_feat`` and ``head.forward`` (wrapped) and of the head's
    modules (forward hooks): pyramid stages, point-feature extractors, regressors, MANO."""

    GROUPS = ('pyramid', 'points', 'regressors', 'mano')

    def __init__(self, model, device):
        self.device = device
        self.t = dict.fromkeys(('backbone', 'head_forward') + self.GROUPS, 0.0)
        self._wrap(model, 'extract_feat', 'backbone')
        self._wrap(model.head, 'forward', 'head_forward')
        self._start = {}
        head = model.head
        for key, modules in (('pyramid', head.pyramid), ('points', head.extractors),
                             ('regressors', head.regressors), ('mano', [head.mano])):
            for m in modules:
                m.register_forward_pre_hook(self._pre)
                m.register_forward_hook(self._post(key))

    def sync(self):
        if self.device == 'cuda':
            torch.cuda.synchronize()

    def _wrap(self, obj, method, key):
        fn = getattr(obj, method)

        def timed(*args, **kwargs):
            self.sync()
            t = time.perf_counter()
            out = fn(*args, **kwargs)
            self.sync()
            self.t[key] += time.perf_counter() - t
            return out

        setattr(obj, method, timed)

    def _pre(self, module, args):
        self.sync()
        self._start[id(module)] = time.perf_counter()

    def _post(self, key):
        def hook(module, args, output):
            self.sync()
            self.t[key] += time.perf_counter() - self._start.pop(id(module))
        return hook

    def reset(self):
        self.t = dict.fromkeys(self.t, 0.0)


def count_flops(model, device):
    """GFLOPs per image (batch 1; 2 per multiply-add, torch's FlopCounterMode: matmuls and
    convolutions) of the backbone, the head forward without MANO (``pyramid``: its
    deconvolution stages alone), and MANO (one forward per feedback iteration, counted
    standalone with the head's parameter shapes)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mmhandmim.structures import rot6d_to_matrix
    inputs, samples = make_batch(1, model.head.input_size, device)
    K = model.head._labels(samples, 'cam_K')
    out = {}
    with torch.inference_mode():
        with FlopCounterMode(display=False) as fc:
            feats = model.extract_feat(inputs)
        out['backbone'] = fc.get_total_flops()
        with FlopCounterMode(display=False) as fc:
            model.head.forward(feats, K)
        head_forward = fc.get_total_flops()
        x = feats[-1]
        while isinstance(x, (list, tuple)):  # as head.forward: the last map
            x = x[-1]
        with FlopCounterMode(display=False) as fc:
            for stage in model.head.pyramid:
                x = stage(x)
        out['pyramid'] = fc.get_total_flops()
        rot = rot6d_to_matrix(model.head.init_pose6d[None])
        with FlopCounterMode(display=False) as fc:
            model.head.mano(rot, model.head.init_betas[None])
        out['mano'] = fc.get_total_flops() * model.head.num_iterations
    out['head'] = head_forward - out['mano']
    return {k: out[k] / 1e9 for k in ('backbone', 'head', 'pyramid', 'mano')}


def bench(model, timer, batch, repeats, warmup, budget, device):
    inputs, samples = make_batch(batch, model.head.input_size, device)
    calls = []
    with torch.inference_mode():
        first = None
        for i in range(warmup + repeats):
            if i == warmup and first is not None:  # fit the timed calls into the budget
                repeats = min(repeats, max(3, int(budget / max(first, 1e-9))))
            if i >= warmup + repeats:
                break
            timer.reset()
            timer.sync()
            t, cpu = time.perf_counter(), time.process_time()
            model.predict(inputs, samples)
            timer.sync()
            wall, cpu = time.perf_counter() - t, time.process_time() - cpu
            if i < warmup:
                first = wall
                continue
            calls.append(dict(total=wall, cpu=cpu, **timer.t))
    for c in calls:
        c['head_other'] = c['head_forward'] - sum(c[k] for k in PartTimer.GROUPS)
        c['head'] = c['head_forward'] - c['mano']  # pyramid + points + regressors + glue
        c['post'] = c['total'] - c['backbone'] - c['head_forward']
    med = lambda f: statistics.median(f(c) for c in calls)  # noqa: E731
    total = med(lambda c: c['total'])
    return dict(batch=batch, repeats=len(calls), warmup=warmup,
                ms_per_call=1e3 * total, ms_per_image=1e3 * total / batch,
                images_per_s=batch / total,
                best_ms_per_image=1e3 * min(c['total'] for c in calls) / batch,
                cpu_ms_per_image=1e3 * med(lambda c: c['cpu']) / batch,
                # per part: median ms and median share of its call (shares of one call add
                # up to 100 %; their medians only roughly)
                ms={k: 1e3 * med(lambda c: c[k]) for k in PARTS + HEAD_PARTS},
                share={k: med(lambda c: c[k] / c['total']) for k in PARTS + HEAD_PARTS},
                head_mano_share_of_forward=med(
                    lambda c: c['head_forward'] / (c['backbone'] + c['head_forward'])),
                all_ms=[1e3 * c['total'] for c in calls])


def report(name, r):
    pct = lambda k: f"{k} {100 * r['share'][k]:.1f}%"  # noqa: E731
    print(f"  {name} batch {r['batch']}: {r['ms_per_image']:.2f} ms/img, "
          f"{r['images_per_s']:.2f} img/s ({r['ms_per_call']:.1f} ms/call, median of "
          f"{r['repeats']} after {r['warmup']} warm-up; best {r['best_ms_per_image']:.2f} "
          f"ms/img; process CPU time {r['cpu_ms_per_image']:.1f} ms/img, all threads); "
          "head+MANO share of the forward "
          f"{100 * r['head_mano_share_of_forward']:.1f}%")
    print(f"    share of a call: {', '.join(pct(k) for k in PARTS)}; head = "
          f"{', '.join(pct(k) for k in HEAD_PARTS)}")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--archs', nargs='+', choices=sorted(ARCHS), default=['s', 'b'])
    p.add_argument('--batches', nargs='+', type=int, default=[1, 32])
    p.add_argument('--repeats', type=int, default=10, help='timed calls (at most)')
    p.add_argument('--warmup', type=int, default=None,
                   help='untimed calls first (default: 1 on CPU, 3 on CUDA)')
    p.add_argument('--budget', type=float, default=30.0,
                   help='seconds of timed calls per (arch, batch); repeats shrink to fit, '
                   'down to 3')
    p.add_argument('--threads', type=int, help='torch CPU threads (default: torch default)')
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--json', help='also write the results to this JSON file')
    args = p.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device is available')
    if min(args.batches) < 1 or args.repeats < 1 or (args.warmup or 0) < 0:
        p.error('--batches and --repeats must be >= 1, --warmup >= 0')
    if args.warmup is None:
        args.warmup = 3 if args.device == 'cuda' else 1
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = args.device
    where = (torch.cuda.get_device_name(0) if device == 'cuda' else
             f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads)')
    try:
        load = tuple(round(v, 2) for v in os.getloadavg())
    except OSError:
        load = None
    print(f'torch {torch.__version__}, {where}, fp32, torch.inference_mode, 224 px, '
          f'stand-in hand model (778 vertices, 16 joints); load average {load}')
    results = []
    for arch in args.archs:
        model = build_model(arch, device)
        timer = PartTimer(model, device)
        n_par = sum(p.numel() for p in model.parameters()) / 1e6
        n_head = sum(p.numel() for p in model.head.parameters()) / 1e6
        fl = count_flops(model, device)
        share = (fl['head'] + fl['mano']) / (fl['backbone'] + fl['head'] + fl['mano'])
        print(f"{ARCHS[arch]['name']}: {n_par:.1f} M parameters ({n_head:.1f} M in the head); "
              f"GFLOPs/img: backbone {fl['backbone']:.2f}, head {fl['head']:.2f} (pyramid "
              f"{fl['pyramid']:.2f}), MANO {fl['mano']:.3f}: head+MANO {100 * share:.1f}% of "
              "the forward's FLOPs")
        for batch in args.batches:
            r = bench(model, timer, batch, args.repeats, args.warmup, args.budget, device)
            r.update(arch=ARCHS[arch]['name'], device=device, gflops_per_image=fl,
                     threads=torch.get_num_threads())
            report(ARCHS[arch]['name'], r)
            results.append(r)
        del model, timer
        if device == 'cuda':
            torch.cuda.empty_cache()
    s = [r for r in results if r['arch'] == 'ViT-S']
    if s:
        worst = max(s, key=lambda r: r['head_mano_share_of_forward'])
        share = worst['head_mano_share_of_forward']
        print(f"head + MANO share of the ViT-S forward: {100 * share:.1f}% (batch "
              f"{worst['batch']}, the largest measured; target < {100 * HEAD_SHARE_TARGET:.0f}%"
              f"): {'met' if share < HEAD_SHARE_TARGET else 'NOT met'}")
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
