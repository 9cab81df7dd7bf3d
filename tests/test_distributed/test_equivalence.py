"""1 process x batch 2b == 2 processes x batch b (gloo on CPU, tools/dist_train.sh), for
HandMIM pre-training and mesh fine-tuning: same final weights, buffers included.

Both runs see the same samples in each global batch (DefaultSampler deals one seeded
permutation to the ranks round-robin: rank r gets ``perm[r::2]``, so the 1-process batch
``perm[:2b]`` is the union of the ranks' batches) with the same augmentation (views, masks,
bbox jitter and colour drawn per sample index: ``SeedRNGPerSample``). What the comparison
then checks is the distributed machinery: DDP's gradient averaging, the sampler's sharding,
HandMIM's teacher centres (all-reduced sum and count), and, for the mesh head, batch norm
synchronised over the processes. See ``tests/configs/dist_equiv_*.py`` for what the two
configs change in the demo configs and why.
"""
import pytest
import torch

from .conftest import load_ckpt, logged, train

HANDMIM = 'tests/configs/dist_equiv_handmim.py'
MESH = 'tests/configs/dist_equiv_mesh.py'
ATOL = 1e-5


def _key_bias_slice(key, tensor):
    """The key third of a ViT ``attn.qkv.bias``, else None."""
    if key.endswith('attn.qkv.bias'):
        c = tensor.shape[0] // 3
        return slice(c, 2 * c)
    return None


def assert_same_weights(a, b, atol=ATOL):
    """Every tensor of two state dicts within ``atol``.

    Exception: the key biases of attention. Softmax is invariant to adding the same value to
    all logits of a query, so their exact gradient is 0 and what they receive is float
    rounding noise (~1e-9); Adam divides by the noise's own magnitude (plus eps 1e-8) and
    turns it into steps of ~1e-5, different for any other summation order. They cannot
    change the model's output, so they are only checked loosely (1e-3).
    """
    assert a.keys() == b.keys()
    for k, va in a.items():
        vb = b[k]
        if not va.is_floating_point():
            assert torch.equal(va, vb), k
            continue
        sl = _key_bias_slice(k, va)
        if sl is not None:
            torch.testing.assert_close(va[sl], vb[sl], atol=1e-3, rtol=0, msg=k)
            keep = torch.ones_like(va, dtype=torch.bool)
            keep[sl] = False
            va, vb = va[keep], vb[keep]
        torch.testing.assert_close(va, vb, atol=atol, rtol=1e-5,
                                   msg=lambda m, k=k: f'{k}: {m}')


def max_change(a, b):
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a
               if a[k].is_floating_point() and a[k].numel())


def _run_pair(config, work, data_opts, batch):
    """(1-process run, 2-process run); 16 samples, 2 epochs of 2 iterations each."""
    one = train(config, work / 'one', '--cfg-options', *data_opts,
                f'train_dataloader.batch_size={2 * batch}')
    assert one.returncode == 0, one.output[-4000:]
    two = train(config, work / 'two', '--cfg-options', *data_opts,
                f'train_dataloader.batch_size={batch}', nproc=2)
    assert two.returncode == 0, two.output[-4000:]
    assert 'Distributed training: True' in two.output
    return one, two


def test_handmim_one_vs_two_processes(unlabeled_crops, tmp_path):
    one, two = _run_pair(HANDMIM, tmp_path, [
        f'train_dataloader.dataset.data_root={unlabeled_crops}'], batch=4)
    a, b = (load_ckpt(tmp_path / run / 'epoch_2.pth') for run in ('one', 'two'))
    assert a['meta']['iter'] == b['meta']['iter'] == 4  # 16 samples / global batch 8 x 2

    # gradient norm before clipping (logged by rank 0 after DDP's all-reduce) of each step:
    # the averaged gradient is the 1-process gradient (a sum instead of a mean would double
    # it; AdamW and clipping would hide that in the weights)
    g1, g2 = logged(one.output, 'grad_norm'), logged(two.output, 'grad_norm')
    assert len(g1) == len(g2) == 4
    assert g1 == pytest.approx(g2, rel=2e-4, abs=2e-4)
    # the schedule hooks ran the same in both: prototypes frozen in epoch 1, temperature
    # 0.04 -> 0.07, teacher momentum
    assert logged(one.output, 'teacher_temp') == logged(two.output, 'teacher_temp')
    assert logged(one.output, 'teacher_momentum') == logged(two.output, 'teacher_momentum')

    sa, sb = a['state_dict'], b['state_dict']
    # student, teacher (EMA), projection heads, decoder and the centres (all-reduced sum and
    # count of the teacher outputs: without the all-reduce they differ by ~1e-2)
    assert_same_weights(sa, sb)
    assert {'distill_loss.center', 'distill_loss.patch_center',
            'teacher.backbone.cls_token'} <= set(sa)
    # and training did move them, by far more than the tolerance
    first = load_ckpt(tmp_path / 'one' / 'epoch_1.pth')['state_dict']
    assert max_change(sa, first) > 100 * ATOL
    assert sa['distill_loss.center'].abs().max() > 100 * ATOL


@pytest.fixture(scope='module')
def mesh_runs(freihand_16, tmp_path_factory):
    work = tmp_path_factory.mktemp('mesh_equiv')
    data = [f'train_dataloader.dataset.data_root={freihand_16}']
    one, two = _run_pair(MESH, work, data, batch=4)
    return work, data, one, two


def test_mesh_one_vs_two_processes_sync_bn(mesh_runs):
    work, _, one, two = mesh_runs
    assert 'CPUSyncBNDistributedDataParallel' in two.output
    a, b = (load_ckpt(work / run / 'epoch_2.pth') for run in ('one', 'two'))
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    sa, sb = a['state_dict'], b['state_dict']
    # backbone, head and the batch-norm running statistics of the deconvolution pyramid
    bn = [k for k in sa if k.endswith('running_var')]
    assert len(bn) == 3, bn
    assert_same_weights(sa, sb)
    first = load_ckpt(work / 'one' / 'epoch_1.pth')['state_dict']
    assert max_change(sa, first) > 100 * ATOL


def test_mesh_two_processes_plain_bn_differs(mesh_runs):
    """Without synchronised batch norm each process normalises with its own b samples'
    statistics: 2 x b is then a different computation from 2b (as on GPUs without
    ``sync_bn``). This also shows the comparison above is sensitive."""
    work, data, one, _ = mesh_runs
    plain = train(MESH, work / 'plain', '--cfg-options', *data, 'train_dataloader.batch_size=4',
                  'model_wrapper_cfg.type=MMDistributedDataParallel', nproc=2)
    assert plain.returncode == 0, plain.output[-4000:]
    sa = load_ckpt(work / 'one' / 'epoch_2.pth')['state_dict']
    sp = load_ckpt(work / 'plain' / 'epoch_2.pth')['state_dict']
    bn = [k for k in sa if k.endswith('running_mean')]
    assert max(float((sa[k] - sp[k]).abs().max()) for k in bn) > 100 * ATOL
    assert max_change(sa, sp) > 100 * ATOL
