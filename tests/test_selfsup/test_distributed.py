"""Two gloo processes: teacher centres are all-reduced; the DDP-wrapped model trains with hooks."""
import os
import sys
from types import SimpleNamespace

import torch
import torch.multiprocessing as mp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _worker(rank, tmp):
    sys.path.insert(0, ROOT)
    import mmhandmim.compat  # noqa: F401  (before mmengine)
    import torch.distributed as dist
    from mmengine.logging import MessageHub, MMLogger
    from mmengine.model import MMDistributedDataParallel
    from mmengine.optim import OptimWrapper

    from mmhandmim.engine.hooks import TeacherEMAHook, TeacherTempHook
    from mmhandmim.models.selfsup import HandMIMDistillLoss
    from tests.test_selfsup.tiny import build_model, make_batch

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'file://{tmp}/rendezvous', rank=rank,
                            world_size=2)
    # centres: different (and unevenly sized) inputs on the two ranks
    loss = HandMIMDistillLoss(out_dim=8, center_momentum=0.9)
    g = torch.Generator().manual_seed(rank)
    cls = torch.randn(3 + 2 * rank, 8, generator=g) + rank
    patch = torch.randn(3 + 2 * rank, 5, 8, generator=g) - rank
    loss.update_center(cls, patch)
    torch.save(dict(center=loss.center, patch_center=loss.patch_center, cls=cls, patch=patch),
               f'{tmp}/centre{rank}.pth')

    # one DDP training step with the hooks, different data on each rank
    torch.manual_seed(0)  # same initial weights on both ranks
    model = build_model()
    ddp = MMDistributedDataParallel(module=model)
    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3))
    runner = SimpleNamespace(model=ddp, epoch=3, iter=0, max_iters=10, max_epochs=10,
                             optim_wrapper=optim, logger=MMLogger.get_instance(f'dist{rank}'),
                             message_hub=MessageHub.get_instance(f'dist{rank}'))
    TeacherTempHook(warmup_epochs=30).before_train_iter(runner, 0)
    ema = TeacherEMAHook()
    ema.before_train(runner)
    ddp.train_step(make_batch(2, seed=10 + rank), optim)
    ema.after_train_iter(runner, 0)
    torch.save(dict(teacher=model.teacher.state_dict(), temp=model.distill_loss.teacher_temp,
                    center=model.distill_loss.center, pose_center=model.pose_alignment.center),
               f'{tmp}/model{rank}.pth')
    dist.destroy_process_group()


def test_centres_all_reduced_and_ddp_step(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=2, join=True)
    c = [torch.load(tmp_path / f'centre{r}.pth') for r in range(2)]
    for key in ('center', 'patch_center'):
        torch.testing.assert_close(c[0][key], c[1][key], atol=0, rtol=0)
    all_cls = torch.cat([c[0]['cls'], c[1]['cls']])
    all_patch = torch.cat([c[0]['patch'], c[1]['patch']]).flatten(0, 1)
    torch.testing.assert_close(c[0]['center'], 0.1 * all_cls.mean(0, keepdim=True))
    torch.testing.assert_close(c[0]['patch_center'], 0.1 * all_patch.mean(0, keepdim=True))

    m = [torch.load(tmp_path / f'model{r}.pth') for r in range(2)]
    for k, v in m[0]['teacher'].items():
        torch.testing.assert_close(v, m[1]['teacher'][k], atol=0, rtol=0)
    torch.testing.assert_close(m[0]['center'], m[1]['center'], atol=0, rtol=0)
    # the bottleneck centre of the pose alignment is averaged over the ranks as well
    assert m[0]['pose_center'].abs().sum() > 0
    torch.testing.assert_close(m[0]['pose_center'], m[1]['pose_center'], atol=0, rtol=0)
    assert m[0]['temp'] == m[1]['temp'] == 0.04 + 0.03 * 3 / 29
