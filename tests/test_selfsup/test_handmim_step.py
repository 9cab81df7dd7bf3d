"""One HandMIM training step: losses, gradients, teacher EMA, switches, hooks, autocast."""
import copy
from types import SimpleNamespace

import pytest
import torch
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import OptimWrapper

from mmhandmim.engine.hooks import FreezeLastLayerHook, TeacherEMAHook, TeacherTempHook
from mmhandmim.engine.hooks.handmim_schedule_hooks import cosine_momentum, teacher_init_share

from .tiny import build_model, make_batch


def _runner(model, **kw):
    hub = MessageHub.get_instance('test_handmim_step')
    return SimpleNamespace(model=model, message_hub=hub,
                           logger=MMLogger.get_instance('test_handmim_step'), **kw)


def _losses(model, batch):
    data = model.data_preprocessor(copy.deepcopy(batch), True)
    return model(**data, mode='loss')


def test_one_step_losses_gradients_and_teacher_ema():
    torch.manual_seed(0)
    model = build_model()
    model.train()
    assert not model.teacher.training and model.backbone.training
    batch = make_batch(4, view_cfg=dict(num_local_views=2, local_view_size=32))
    losses = _losses(model, batch)
    assert set(losses) == {'loss_pose', 'loss_patch', 'loss_recon'}
    assert all(torch.isfinite(v) and v.ndim == 0 and v.dtype == torch.float32
               for v in losses.values())
    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.04))
    teacher_before = copy.deepcopy(model.teacher.state_dict())
    optim.backward(sum(losses.values()))
    for name, p in model.named_parameters():
        if name.startswith('teacher.'):
            assert not p.requires_grad and p.grad is None, name
        else:
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
    for prefix in ('backbone.layers.0', 'projection_head.mlp', 'decoder.tconvs',
                   'backbone.mask_token'):
        assert any(p.grad.abs().sum() > 0 for n, p in model.named_parameters()
                   if n.startswith(prefix)), prefix
    hook = TeacherEMAHook(momentum=0.996)
    runner = _runner(model, iter=10, max_iters=40, optim_wrapper=optim)
    hook.before_train(runner)
    optim.step()
    # the optimizer step leaves the teacher alone; only the EMA hook moves it
    for k, v in model.teacher.state_dict().items():
        torch.testing.assert_close(v, teacher_before[k], atol=0, rtol=0)
    hook.after_train_iter(runner, 10)
    m = 1 - (1 - 0.996) * (1 + torch.cos(torch.tensor(torch.pi * 10 / 40)).item()) / 2
    student = dict(list(model.backbone.state_dict(prefix='backbone.').items()) +
                   list(model.projection_head.state_dict(prefix='projection_head.').items()))
    moved = 0
    for k, v in model.teacher.state_dict().items():
        expected = m * teacher_before[k] + (1 - m) * student[k]
        torch.testing.assert_close(v, expected, atol=1e-7, rtol=1e-6)
        moved += int(not torch.equal(v, teacher_before[k]))
    assert moved > 0
    assert runner.message_hub.get_scalar('train/teacher_momentum').current() == pytest.approx(m)


def test_teacher_init_share_is_the_product_of_momenta():
    assert teacher_init_share(50, 0.9, 0.9) == pytest.approx(0.9**50, rel=1e-12)
    expected = 1.0
    for i in range(96):
        expected *= cosine_momentum(i, 96, 0.99, 1.0)
    assert teacher_init_share(96, 0.99) == pytest.approx(expected, rel=1e-12)
    assert 0.61 < expected < 0.62  # the old demo schedule: a mostly random teacher


def test_ema_hook_warns_about_a_mostly_random_teacher():
    from tests.test_engine.toy import captured_log
    model = build_model()
    optim = OptimWrapper(torch.optim.SGD(model.backbone.parameters(), lr=0.1))
    runner = _runner(model, iter=0, max_iters=96, optim_wrapper=optim)
    for momentum, warned in ((0.99, True), (0.92, False)):
        hook = TeacherEMAHook(momentum=momentum)
        with captured_log(runner.logger) as log:
            hook.before_train(runner)
        assert ('61% its random initialisation' in log.text()) == warned, momentum
        hook.after_train(runner)


def test_momentum_schedule():
    assert cosine_momentum(0, 100) == pytest.approx(0.996)
    assert cosine_momentum(50, 100) == pytest.approx(0.998)
    assert cosine_momentum(100, 100) == pytest.approx(1.0)
    values = [cosine_momentum(i, 100) for i in range(100)]
    assert all(a < b for a, b in zip(values, values[1:]))


@pytest.mark.parametrize('overrides,keys', [
    (dict(), {'loss_pose', 'loss_patch', 'loss_recon'}),
    (dict(loss_weights=dict(pose=0., patch=1., recon=1.)), {'loss_patch', 'loss_recon'}),
    (dict(loss_weights=dict(pose=1., patch=0., recon=1.)), {'loss_pose', 'loss_recon'}),
    (dict(loss_weights=dict(pose=1., patch=1., recon=0.), decoder=None),
     {'loss_pose', 'loss_patch'}),
    (dict(use_pose_alignment=False), {'loss_cls', 'loss_patch', 'loss_recon'}),
    # plain iBOT: cross-view class loss without alignment + masked patch loss
    (dict(use_pose_alignment=False, loss_weights=dict(pose=1., patch=1., recon=0.)),
     {'loss_cls', 'loss_patch'}),
])
def test_switches_remove_exactly_their_term(overrides, keys):
    torch.manual_seed(0)
    model = build_model(**overrides)
    losses = _losses(model, make_batch(2))
    assert set(losses) == keys
    assert all(torch.isfinite(v) for v in losses.values())
    if 'loss_recon' not in keys:
        assert model.decoder is None  # not built, so not computed


def test_loss_weights_scale_terms_and_bad_configs_fail():
    torch.manual_seed(0)
    model = build_model()
    model.eval()  # deterministic (no drop-path) and no centre update
    batch = make_batch(2)
    base = _losses(model, batch)
    model.loss_weights = dict(pose=2., patch=0.5, recon=3.)
    scaled = _losses(model, batch)
    for key, w in (('loss_pose', 2.), ('loss_patch', 0.5), ('loss_recon', 3.)):
        torch.testing.assert_close(scaled[key], w * base[key])
    with pytest.raises(ValueError, match='decoder'):
        build_model(decoder=None)
    with pytest.raises(ValueError, match='all'):
        build_model(loss_weights=dict(pose=0., patch=0., recon=0.))
    with pytest.raises(ValueError, match='unknown'):
        build_model(loss_weights=dict(pose=1., kd=1.))


@pytest.mark.parametrize('mode', ['centred', 'linear', 'eq4'])
def test_pose_alignment_acts_through_the_view_geometry(mode):
    """Real views: the aligned loss differs from the unaligned one. A crop shift alone (no
    scale, no rotation) changes nothing for the translation-free modes; the identity geometry
    gives the unaligned loss for the modes without centring."""
    torch.manual_seed(0)
    aligned = build_model(loss_weights=dict(pose=1., patch=0., recon=0.), decoder=None,
                          pose_alignment=dict(mode=mode, center_momentum=None))
    plain = build_model(loss_weights=dict(pose=1., patch=0., recon=0.), decoder=None,
                        use_pose_alignment=False)
    plain.load_state_dict({k: v for k, v in aligned.state_dict().items()
                           if not k.startswith('pose_alignment.')})
    aligned.eval(), plain.eval()
    batch = make_batch(3)
    real = (_losses(aligned, batch)['loss_pose'], _losses(plain, batch)['loss_cls'])
    assert not torch.allclose(*real)

    def with_geometry(affine):
        out = copy.deepcopy(batch)
        for ds in out['data_samples']:
            ds.view_geometry = torch.tensor(affine).expand(2, 2, 3).clone()
        return _losses(aligned, out)['loss_pose']

    identity, shifted = with_geometry([[1., 0., 0.], [0., 1., 0.]]), with_geometry(
        [[1., 0., 0.4], [0., 1., -0.3]])
    if mode != 'centred':
        torch.testing.assert_close(identity, _losses(plain, batch)['loss_cls'])
    if mode == 'eq4':
        assert not torch.allclose(identity, shifted)
    else:
        torch.testing.assert_close(identity, shifted)


def test_teacher_centre_update():
    torch.manual_seed(0)
    model = build_model()
    model.train()
    assert model.distill_loss.center.abs().sum() == 0
    _losses(model, make_batch(2))
    c1 = model.distill_loss.center.clone()
    assert c1.abs().sum() > 0 and model.distill_loss.patch_center.abs().sum() > 0
    model.eval()
    _losses(model, make_batch(2, seed=1))  # no centre update outside training
    torch.testing.assert_close(model.distill_loss.center, c1, atol=0, rtol=0)


def test_teacher_temperature_hook():
    model = build_model()
    hook = TeacherTempHook(warmup_temp=0.04, temp=0.07, warmup_epochs=30,
                           patch_warmup_temp=0.03, patch_temp=0.06)
    for epoch, cls_t, patch_t in ((0, 0.04, 0.03), (15, 0.04 + 0.03 * 15 / 29, 0.03 + 0.03 *
                                                   15 / 29), (29, 0.07, 0.06), (100, 0.07, 0.06)):
        hook.before_train_iter(_runner(model, epoch=epoch), 0)
        assert model.distill_loss.teacher_temp == pytest.approx(cls_t)
        assert model.distill_loss.teacher_patch_temp == pytest.approx(patch_t)
    per_iter = TeacherTempHook(warmup_epochs=2, by_epoch=False)
    per_iter.before_train_iter(_runner(model, iter=5, max_iters=100, max_epochs=10), 5)
    assert model.distill_loss.teacher_temp == pytest.approx(0.04 + 0.03 * 5 / 20)
    TeacherTempHook(warmup_iters=10).before_train_iter(_runner(model, iter=5), 5)
    assert model.distill_loss.teacher_temp == pytest.approx(0.055)


def test_last_layer_frozen_for_the_first_epoch():
    torch.manual_seed(0)
    model = build_model()
    model.train()
    optim = OptimWrapper(torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.04),
        clip_grad=dict(max_norm=3.0))
    hook = FreezeLastLayerHook(freeze_epochs=1)
    runner = _runner(model, optim_wrapper=optim, epoch=0)
    hook.before_train(runner)
    last = model.projection_head.last_layer.weight_v
    batch = make_batch(2)
    for epoch in (0, 0, 1):
        runner.epoch = epoch
        hook.before_train_iter(runner, 0)
        before, other = last.detach().clone(), model.projection_head.mlp[0].weight.detach().clone()
        optim.update_params(sum(_losses(model, batch).values()))
        assert not torch.equal(model.projection_head.mlp[0].weight, other)
        assert torch.equal(last, before) == (epoch == 0), epoch
    iter_hook = FreezeLastLayerHook(freeze_iters=3)
    for it, frozen in ((0, True), (2, True), (3, False)):
        runner.iter = it
        iter_hook.before_train_iter(runner, it)
        assert iter_hook.frozen == frozen
    hook.after_train(runner)
    assert not hook._handles


def test_autocast_losses_are_float32_and_finite():
    torch.manual_seed(0)
    model = build_model()
    model.train()
    data = model.data_preprocessor(make_batch(2), True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model(**data, mode='loss')
    assert set(losses) == {'loss_pose', 'loss_patch', 'loss_recon'}
    assert all(v.dtype == torch.float32 and torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert torch.isfinite(model.backbone.layers[0].attn.qkv.weight.grad).all()
