"""The proxy study's regime checks and its report's refusal to present a failed regime.

The checks decide whether any comparison of pre-trainings is read (benchmarks/proxy_study.py),
so each is held to the figures that motivated it: the first study's fine-tunings (15.54-15.77
mm PA-MPJPE against a constant hand at 15.34 and a mean pose at 15.22) must fail (a); its
class loss at 6.234 against ln 512 = 6.238 must fail (c); the old demo teacher (momentum 0.99
over 96 iterations, 61 % of its initialisation left) must fail the teacher check.
"""
import json
import math
import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.join(osp.dirname(__file__), '..', '..', 'benchmarks'))

import proxy_study_regime as regime  # noqa: E402
from proxy_study_report import verdict, write_report  # noqa: E402

BASELINES = {'constant': dict(pa_mpjpe=15.34, mpjpe=129.0),
             'mean_pose': dict(pa_mpjpe=15.22, mpjpe=107.5)}


def _runs(pa, mp):
    return [dict(pa_mpjpe=a, mpjpe=b) for a, b in zip(pa, mp)]


def test_clearly_lower_needs_margin_and_more_than_the_seed_spread():
    assert regime.clearly_lower([9.0, 9.1, 8.9], [10.0])['ok']
    # 3 % lower: inside the 5 % margin
    assert not regime.clearly_lower([9.7, 9.7, 9.7], [10.0])['ok']
    # 20 % lower on average, but the seeds spread over more than half the gap
    assert not regime.clearly_lower([6.0, 8.0, 10.0], [10.0])['ok']
    # the spread of the worse side counts too
    assert not regime.clearly_lower([8.0, 8.0], [7.0, 13.0])['ok']


def test_first_study_fails_check_a_and_the_frozen_backbone_decides_b():
    # the first study's from-scratch fine-tunings: worse than both trivial baselines
    scratch = _runs([15.54, 15.77, 15.60], [90.0, 88.0, 91.0])
    frozen = _runs([16.7, 16.8, 16.6], [107.0, 108.0, 106.5])
    checks = regime.finetune_checks(scratch, frozen, BASELINES)
    pa, mp = checks['pa_mpjpe'], checks['mpjpe']
    assert pa['beats_baselines']['baseline'] == 'mean_pose'  # the better of the two
    assert not pa['beats_baselines']['ok'] and not pa['ok']
    assert pa['backbone_matters']['ok']
    assert mp['beats_baselines']['ok'] and mp['backbone_matters']['ok'] and mp['ok']
    assert regime.readable_metrics(checks) == ['mpjpe']
    # a frozen random backbone as good as the trained one: the backbone does not matter
    same = regime.finetune_checks(scratch, _runs([15.6] * 3, [89.0, 90.5, 88.5]), BASELINES)
    assert not same['mpjpe']['backbone_matters']['ok'] and regime.readable_metrics(same) == []


def test_class_loss_and_teacher_checks():
    k = 512
    assert not regime.class_loss_check([6.234, 5.0], k)['ok']  # one seed at ln K fails all
    assert not regime.class_loss_check([math.log(k) - 0.4] * 3, k)['ok']
    assert regime.class_loss_check([4.6, 4.7, 4.55], k)['ok']
    from mmhandmim.engine.hooks.handmim_schedule_hooks import teacher_init_share
    old_demo = teacher_init_share(96, 0.99, 1.0)
    assert 0.55 < old_demo < 0.65 and not regime.teacher_check(old_demo)['ok']
    # the CPU preset: 3 epochs of 4,096 crops at batch 32, momentum 0.98 -> 1
    study = teacher_init_share(3 * 128, 0.98, 1.0)
    assert study < 0.03 and regime.teacher_check(study)['ok']


def test_probe_validation_rejects_a_probe_that_cannot_tell_trained_from_random():
    fin = [dict(a=10.0, b=20.0), dict(a=10.5, b=20.5), dict(a=9.8, b=19.0)]
    rnd = [dict(a=14.0, b=20.2), dict(a=14.2, b=20.1), dict(a=13.9, b=19.8)]
    res = regime.probe_checks(fin, rnd, ('a', 'b'))
    assert res['a']['ok'] and not res['b']['ok']


def test_verdict_is_symmetric_and_says_noise():
    assert verdict([9.0, 9.1], [10.0, 10.1]) == 'clearly better'
    assert verdict([10.0, 10.1], [9.0, 9.1]) == 'clearly worse'
    assert verdict([10.0, 10.1], [10.05, 9.95]) == 'within the noise'
    assert verdict([], [1.0]) == 'not run'


def _metrics(pa, mp):
    return dict(pa_mpjpe=pa, pa_mpvpe=pa * 0.7, mpjpe=mp, mpvpe=mp, pa_f5=0.5, pa_f15=0.9)


@pytest.mark.parametrize('regime_ok', [False, True])
def test_report_marks_a_failed_regime_and_keeps_baselines_in_tables(tmp_path, regime_ok):
    ft = []
    for s in range(3):
        for init, k, pa, mp in (('scratch', 0, 15.6, 90.0), ('scratch', 4, 16.4, 107.0),
                                ('ibot', 0, 15.5, 88.0), ('handmim', 0, 15.5, 80.0 + s),
                                ('no-pose', 0, 15.5, 88.0), ('no-patch', 0, 15.5, 88.0),
                                ('no-recon', 0, 15.5, 88.0), ('handmim', 2, 15.6, 95.0),
                                ('ibot', 2, 15.6, 96.0), ('scratch', 2, 15.9, 100.0),
                                ('finetuned-scratch', 4, 16.3, 92.0)):
            ft.append(dict(name=f'{init}_k{k}_s{s}', init=init, frozen=k, seed=s,
                           metrics=_metrics(pa + 0.01 * s, mp + 0.1 * s), seconds=60.0))
    pre = [dict(name=f'pretrain_{v}_s{s}', variant=v, seed=s, seconds=60.0,
                final_losses=dict(loss_patch=1.0, **({} if v == 'no-pose' else dict(
                    pose_lnk_gap=-1.6 if regime_ok else -0.004))))
           for s in range(3) for v in ('handmim', 'no-pose', 'ibot')]
    baselines = {n: _metrics(b['pa_mpjpe'], b['mpjpe']) for n, b in BASELINES.items()}
    scratch = [r['metrics'] for r in ft if r['init'] == 'scratch' and r['frozen'] == 0]
    frozen = [r['metrics'] for r in ft if r['init'] == 'scratch' and r['frozen'] == 4]
    fc = regime.finetune_checks(scratch, frozen, baselines)
    checks = dict(finetune=fc, readable=regime.readable_metrics(fc),
                  class_loss=regime.class_loss_check(
                      [r['final_losses']['pose_lnk_gap'] + math.log(512) for r in pre
                       if r['variant'] == 'ibot'], 512),
                  teacher=regime.teacher_check(0.02))
    args = type('A', (), dict(preset='cpu', seeds=[0, 1, 2]))()
    preset = dict(prototypes=512, frozen=(2, 4))
    text = write_report(str(tmp_path), preset, args, pre + ft, None, checks, baselines)
    assert ('Not a result' in text) != regime_ok
    assert 'FAIL (a) PA-MPJPE' in text and 'PASS (a) MPJPE' in text
    assert ('FAIL (c)' in text) != regime_ok
    # the trivial baselines and the frozen random backbone are rows of the comparison table
    table = text.split('### Tables 1 and 3')[1].split('###')[0]
    assert 'constant hand' in table and 'mean pose' in table and 'frozen random ViT' in table
    # the verdicts are read on the metric that passed: HandMIM's 80-82 mm vs scratch's 90
    assert 'Tables 1/3, MPJPE (mm): HandMIM vs from scratch: clearly better' in text
    assert 'HandMIM vs iBOT: clearly better' in text
    # the frozen-backbone fine-tuning validated as a probe: 92 mm on a fine-tuned backbone vs
    # 107 mm on a random one passes on MPJPE; on PA-MPJPE (16.3 vs 16.4) it would not
    assert 'frozen-backbone fine-tuning (k = 4), MPJPE (mm): PASS' in text
    saved = json.loads((tmp_path / 'results.json').read_text())
    assert saved['checks']['readable'] == ['mpjpe']


def test_study_refuses_a_work_dir_of_other_settings_and_a_missing_gpu(tmp_path, capsys):
    import torch

    import proxy_study
    work = str(tmp_path / 'study')
    study = proxy_study.Study(proxy_study.parse_args(['--work-dir', work, '--preset', 'quick']))
    study.check_settings()  # a new work dir: records its settings
    assert json.loads((tmp_path / 'study' / 'settings.json').read_text()) == study.settings()
    study.check_settings()  # the same settings again: accepted
    other = proxy_study.Study(proxy_study.parse_args(['--work-dir', work, '--preset', 'cpu']))
    with pytest.raises(SystemExit) as exc:
        other.check_settings()
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and len(err.splitlines()) == 1
    assert 'n_unlabeled' in err and 'new --work-dir' in err
    # regime runs first, then the comparisons: every initialisation, 3 seeds
    regime_jobs, comp = other.plan()
    assert len(regime_jobs) == 9 and len(comp) == 12 + 15 + 9 + 6 + 3
    if not torch.cuda.is_available():
        gpu = proxy_study.Study(proxy_study.parse_args(['--work-dir', work, '--preset', 'gpu']))
        with pytest.raises(SystemExit) as exc:
            gpu.main()
        assert exc.value.code == 2 and 'no GPU' in capsys.readouterr().err


@pytest.mark.parametrize('d', [20, 80])  # primal (d < n) and dual (d > n) branches
def test_ridge_fit_equals_ridge_with_an_unpenalised_intercept(d):
    import torch

    from proxy_study_probes import ridge_fit
    g = torch.Generator().manual_seed(d)
    a = torch.randn(50, d, generator=g, dtype=torch.float64) + 3.0
    t = a[:, :3] * 2.0 - 1.0 + 0.1 * torch.randn(50, 3, generator=g, dtype=torch.float64)
    q = torch.randn(7, d, generator=g, dtype=torch.float64)
    lam = 0.7
    # the reference: a ones column whose weight is not penalised
    x = torch.cat([a, torch.ones(50, 1, dtype=a.dtype)], 1)
    eye = torch.eye(d + 1, dtype=a.dtype)
    eye[-1, -1] = 0
    w = torch.linalg.solve(x.T @ x + lam * eye, x.T @ t)
    ref = torch.cat([q, torch.ones(7, 1, dtype=q.dtype)], 1) @ w
    assert torch.allclose(ridge_fit(a, t, lam)(q), ref, atol=1e-9)
