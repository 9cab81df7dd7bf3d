"""The official iBOT training step (github.com/bytedance/ibot, ViT-S/16) on CPU, run from a
local clone that is neither shipped nor edited; ``bench_vs_ibot.py`` times it against ours.

Everything comes from the clone: the arguments (``main_ibot.get_args_parser``, with the
README's ViT-S/16 recipe on top), ``models.vit_small`` student (drop path 0.1, masked image
modelling, all tokens) and teacher, ``models.head.iBOTHead``, ``utils.MultiCropWrapper``,
``main_ibot.iBOTLoss``, AdamW over ``utils.get_params_groups``, ``utils.clip_gradients`` (3.0),
``utils.cancel_gradients_last_layer`` and the EMA of ``train_one_epoch``; the batches come
from ``main_ibot.DataAugmentationiBOT`` + ``loader.ImageFolderMask`` (its block masks) on
synthetic hand crops, collated as its DataLoader does, and are made before timing.

What is patched, in this process only (no file of the clone changes):

1. While ``main_ibot`` is imported, modules it imports but the step never uses are stubbed
   when they are not installed: ``tensorboardX`` (``SummaryWriter``, logging), ``timm``
   (``register_model``, imported by the model files and never applied; ``DropPath``,
   ``to_2tuple``, ``trunc_normal_``, used only by ``models/swin_transformer.py``) and
   ``evaluation.unsupervised.unsup_cls`` (``eval_pred``, end-of-epoch clustering metrics;
   needs sklearn + munkres). The stubs leave ``sys.modules`` afterwards.
2. ``main_ibot.dist`` is a one-process stand-in: ``all_reduce`` leaves the tensor as it is
   and ``get_world_size()`` is 1, what ``torch.distributed`` does with one process;
   ``iBOTLoss.update_center`` calls them and no process group exists here.
3. ``train_one_epoch``'s body is replayed for one iteration (it cannot run as is: it moves
   data with ``.cuda()``, wraps in DDP, gathers logging statistics across GPUs): the same
   lines minus ``.cuda()``, DDP (``student.module`` is ``student``), the GradScaler (float32
   on CPU, as ours) and the logging (argmax accuracy via ``concat_all_gather``,
   ``MetricLogger``). Epoch 1 is used: past ``freeze_last_layer`` (1), so the last layer is
   trained as in every later epoch.
"""
import contextlib
import math
import os
import sys
import tempfile
import time
import types

import numpy as np
import torch

from mmhandmim.utils.errors import UserInputError

NEEDED = ('main_ibot.py', 'utils.py', 'loader.py', 'models/vision_transformer.py',
          'models/head.py')
#: main_ibot's names that the clone's top-level modules take in ``sys.modules``
TOP_LEVEL = ('utils', 'models', 'loader', 'main_ibot')
#: the README's ViT-S/16 pre-training command (local crops off: 2 global views, as ours)
README_VIT_S = ['--arch', 'vit_small', '--patch_size', '16', '--teacher_temp', '0.07',
                '--warmup_teacher_temp_epochs', '30', '--epochs', '800',
                '--out_dim', '8192', '--local_crops_number', '0',
                '--global_crops_scale', '0.25', '1', '--pred_ratio', '0', '0.3',
                '--pred_ratio_var', '0', '0.2', '--use_fp16', 'false']
README_HEAD = ['--norm_last_layer', 'false', '--shared_head', 'true']
EPOCH = 1


def check_repo(repo: str) -> str:
    """The absolute path of an iBOT clone, after checking it has the files used here.

    Raises:
        UserInputError: the folder or one of ``NEEDED`` is missing.
    """
    repo = os.path.abspath(os.path.expanduser(repo))
    missing = [p for p in NEEDED if not os.path.isfile(os.path.join(repo, p))]
    if missing:
        raise UserInputError(
            f'--ibot-repo {repo!r} is not a clone of github.com/bytedance/ibot (missing '
            f'{", ".join(missing)}); clone it: git clone https://github.com/bytedance/ibot')
    return repo


def _stub(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    module.__path__ = []  # a package, so that submodules can be stubbed below it
    return module


def _missing_stubs():
    """Stubs for the modules ``main_ibot`` imports but the step never uses (patch 1)."""
    stubs = {}
    try:
        import tensorboardX  # noqa: F401
    except ImportError:
        stubs['tensorboardX'] = _stub('tensorboardX', SummaryWriter=object)
    try:
        import timm.models.layers  # noqa: F401
        import timm.models.registry  # noqa: F401
    except ImportError:
        def swin_only(*args, **kwargs):
            raise RuntimeError('stubbed by bench_vs_ibot_official: timm missing (Swin only)')
        layers = dict.fromkeys(('DropPath', 'to_2tuple', 'trunc_normal_'), swin_only)
        stubs.update(timm=_stub('timm'), **{
            'timm.models': _stub('timm.models'),
            'timm.models.layers': _stub('timm.models.layers', **layers),
            'timm.models.registry': _stub('timm.models.registry', register_model=lambda f: f)})
    try:
        import sklearn  # noqa: F401
        import munkres  # noqa: F401
    except ImportError:
        def eval_pred(*args, **kwargs):
            raise RuntimeError('stubbed by bench_vs_ibot_official: sklearn/munkres missing')
        stubs.update({'evaluation': _stub('evaluation'),
                      'evaluation.unsupervised': _stub('evaluation.unsupervised'),
                      'evaluation.unsupervised.unsup_cls': _stub(
                          'evaluation.unsupervised.unsup_cls', eval_pred=eval_pred)})
    return stubs


@contextlib.contextmanager
def _stubbed(stubs):
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load_official(repo: str) -> types.SimpleNamespace:
    """Import the clone's ``main_ibot``, ``models``, ``utils`` and ``loader`` (patches 1, 2).

    Raises:
        UserInputError: the clone is incomplete, or another module already took one of its
            top-level names.
    """
    repo = check_repo(repo)
    taken = [n for n in TOP_LEVEL if n in sys.modules and not os.path.abspath(
        getattr(sys.modules[n], '__file__', '') or '').startswith(repo)]
    if taken:
        raise UserInputError(f'cannot import the iBOT clone: modules named {taken} are '
                             'already loaded from elsewhere; run bench_vs_ibot.py as a script')
    sys.path.insert(0, repo)
    with _stubbed(_missing_stubs()):
        import main_ibot
    import loader
    import models
    import utils
    main_ibot.dist = types.SimpleNamespace(  # patch 2: one process, no process group
        all_reduce=lambda tensor, *args, **kwargs: None, get_world_size=lambda: 1)
    return types.SimpleNamespace(main_ibot=main_ibot, models=models, utils=utils,
                                 loader=loader, repo=repo)


def official_args(ib, batch: int, head: str = 'readme'):
    """main_ibot's parsed arguments: its defaults + the README ViT-S/16 recipe (with
    ``head='readme'`` also its head: shared, learned last-layer gain; ``'defaults'``: the
    parser's, i.e. separate patch head and a fixed gain)."""
    argv = README_VIT_S + ['--batch_size_per_gpu', str(batch)]
    argv += README_HEAD if head == 'readme' else []
    return ib.main_ibot.get_args_parser().parse_args(argv)


class OfficialIBOT:
    """Student, teacher, loss, optimizer and schedules built as ``train_ibot`` builds them
    for a ViT (minus ``.cuda()`` and DDP), and one ``train_one_epoch`` iteration (patch 3).

    Args:
        ib: what ``load_official`` returns.
        args: what ``official_args`` returns.
    """

    def __init__(self, ib, args):
        self.ib, self.args = ib, args
        models, utils, main_ibot = ib.models, ib.utils, ib.main_ibot
        student = models.__dict__[args.arch](
            patch_size=args.patch_size, drop_path_rate=args.drop_path,
            return_all_tokens=True, masked_im_modeling=args.use_masked_im_modeling)
        teacher = models.__dict__[args.arch](patch_size=args.patch_size, return_all_tokens=True)
        embed_dim = student.embed_dim
        iBOTHead = main_ibot.iBOTHead  # models.head.iBOTHead, as main_ibot imports it
        self.student = utils.MultiCropWrapper(student, iBOTHead(
            embed_dim, args.out_dim, patch_out_dim=args.patch_out_dim, norm=args.norm_in_head,
            act=args.act_in_head, norm_last_layer=args.norm_last_layer,
            shared_head=args.shared_head))
        self.teacher = utils.MultiCropWrapper(teacher, iBOTHead(
            embed_dim, args.out_dim, patch_out_dim=args.patch_out_dim, norm=args.norm_in_head,
            act=args.act_in_head, shared_head=args.shared_head_teacher))
        self.teacher.load_state_dict(self.student.state_dict(), strict=False)
        for p in self.teacher.parameters():
            p.requires_grad = False
        same_dim = args.shared_head or args.shared_head_teacher
        self.loss = main_ibot.iBOTLoss(
            args.out_dim, args.out_dim if same_dim else args.patch_out_dim,
            args.global_crops_number, args.local_crops_number, args.warmup_teacher_temp,
            args.teacher_temp, args.warmup_teacher_patch_temp, args.teacher_patch_temp,
            args.warmup_teacher_temp_epochs, args.epochs, lambda1=args.lambda1,
            lambda2=args.lambda2, mim_start_epoch=args.pred_start_epoch)
        self.optimizer = torch.optim.AdamW(utils.get_params_groups(self.student))
        niter = 4  # iterations per (pretend) epoch: only the schedules' values matter
        self.lr_schedule = utils.cosine_scheduler(
            args.lr * args.batch_size_per_gpu / 256., args.min_lr, args.epochs, niter,
            warmup_epochs=args.warmup_epochs)
        self.wd_schedule = utils.cosine_scheduler(args.weight_decay, args.weight_decay_end,
                                                  args.epochs, niter)
        self.momentum_schedule = utils.cosine_scheduler(args.momentum_teacher, 1,
                                                        args.epochs, niter)
        self.it0 = niter * EPOCH
        # common params, as train_one_epoch pairs them
        q = dict(self.student.named_parameters())
        k = dict(self.teacher.named_parameters())
        common = set(q) & set(k)
        self.params_q = [p for n, p in q.items() if n in common]
        self.params_k = [p for n, p in k.items() if n in common]
        self.student.train()
        self.teacher.train()  # main_ibot never calls .eval() on the teacher
        self.steps = 0

    def num_params(self):
        return sum(p.numel() for p in self.student.parameters() if p.requires_grad)

    def train_step(self, batch):
        """One ``train_one_epoch`` iteration on ``(images, labels, masks)``.

        Returns:
            (loss, phase seconds: forward, backward, optimizer, teacher EMA)
        """
        args, utils, g = self.args, self.ib.utils, self.args.global_crops_number
        student, teacher, optimizer = self.student, self.teacher, self.optimizer
        images, _, masks = batch
        it = self.it0 + self.steps % 4
        self.steps += 1
        clock = [time.perf_counter()]
        for i, param_group in enumerate(optimizer.param_groups):
            param_group['lr'] = self.lr_schedule[it]
            if i == 0:  # only the first group is regularized
                param_group['weight_decay'] = self.wd_schedule[it]
        teacher_output = teacher(images[:g])
        student_output = student(images[:g], mask=masks[:g])
        student.backbone.masked_im_modeling = False
        student_local_cls = student(images[g:])[0] if len(images) > g else None
        student.backbone.masked_im_modeling = args.use_masked_im_modeling
        all_loss = self.loss(student_output, teacher_output, student_local_cls, masks, EPOCH)
        loss = all_loss.pop('loss')
        if not math.isfinite(loss.item()):
            raise RuntimeError(f'official iBOT: loss is {loss.item()}')
        clock.append(time.perf_counter())
        optimizer.zero_grad()
        loss.backward()
        clock.append(time.perf_counter())
        if args.clip_grad:
            utils.clip_gradients(student, args.clip_grad)
        utils.cancel_gradients_last_layer(EPOCH, student, args.freeze_last_layer)
        optimizer.step()
        clock.append(time.perf_counter())
        with torch.no_grad():  # EMA update for the teacher
            m = self.momentum_schedule[it]
            for param_q, param_k in zip(self.params_q, self.params_k):
                param_k.data.mul_(m).add_((1 - m) * param_q.detach().data)
        clock.append(time.perf_counter())
        phases = dict(zip(('forward', 'backward', 'optimizer', 'teacher EMA'), np.diff(clock)))
        return float(loss.detach()), phases


def official_batches(ib, args, batch: int, num: int, seed: int = 0):
    """``num`` batches from the clone's ``DataAugmentationiBOT`` + ``ImageFolderMask`` on
    synthetic 256 px hand crops (``bench_pretrain_step.hand_crop``), collated."""
    import random

    from PIL import Image
    from torch.utils.data import default_collate

    from bench_pretrain_step import hand_crop
    random.seed(seed)  # ImageFolderMask and the torchvision transforms draw from these
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    main_ibot = ib.main_ibot
    transform = main_ibot.DataAugmentationiBOT(
        args.global_crops_scale, args.local_crops_scale, args.global_crops_number,
        args.local_crops_number)
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, 'hands'))
        for i in range(min(batch, 16)):
            Image.fromarray(hand_crop(rng)).save(os.path.join(root, 'hands', f'{i:02d}.png'))
        dataset = ib.loader.ImageFolderMask(
            root, transform=transform, patch_size=args.patch_size,
            pred_ratio=args.pred_ratio, pred_ratio_var=args.pred_ratio_var,
            pred_aspect_ratio=(0.3, 1 / 0.3), pred_shape=args.pred_shape,
            pred_start_epoch=args.pred_start_epoch)
        dataset.set_epoch(EPOCH)
        return [default_collate([dataset[i % len(dataset)] for i in range(batch)])
                for _ in range(num)]
