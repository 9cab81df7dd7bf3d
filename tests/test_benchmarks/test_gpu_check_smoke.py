"""``benchmarks/gpu_check.py --cpu-smoke``: the one-call GPU check runs every section on CPU at
toy sizes, so it cannot rot between GPU loans (one subprocess, ~1-1.5 min on 2 cores)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECTIONS = ('environment', 'pretrain_step', 'finetune_step', 'inference', 'numerics',
            'tool_path')
TOOL_STEPS = ('pretrain train', 'pretrain resume', 'finetune train', 'finetune resume',
              'finetune test')


def vit_forward_flops(embed_dims, num_layers, img_size, patch_size):
    """Analytic FLOPs of one image through a ViT with MLP ratio 4 (2 FLOPs per multiply-add).

    Per block, with N tokens (patches + class token) of width D: 24*N*D^2 for the linear
    layers (qkv 3*D^2, output projection D^2, MLP 2 * 4*D^2 multiply-adds per token) plus
    4*N^2*D for attention (QK^T and AV, N^2*D multiply-adds each); plus the patch embedding,
    a P x P convolution: 2 * patches * (3 * P^2) * D. Norms, softmax and GELU are not counted.
    """
    patches = (img_size // patch_size)**2
    n, d = patches + 1, embed_dims
    return num_layers * (24 * n * d * d + 4 * n * n * d) + 2 * patches * 3 * patch_size**2 * d


def run_check(out, *args, timeout=300):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, 'benchmarks/gpu_check.py', '--out', str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope='module')
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp('gpu_check')
    res = run_check(out, '--cpu-smoke')
    path = out / 'gpu_check.json'
    doc = json.loads(path.read_text()) if path.is_file() else None
    return res, doc, out


def result(doc, section):
    return doc['sections'][section]['result']


def test_exits_0_with_every_section_ok(smoke):
    res, doc, _ = smoke
    assert res.returncode == 0, (res.stdout + res.stderr)[-4000:]
    assert doc['mode'] == 'cpu-smoke'
    assert set(doc['sections']) == set(SECTIONS)
    for name in SECTIONS:
        entry = doc['sections'][name]
        assert entry['status'] == 'ok', (name, entry.get('error'), entry.get('traceback'))
        assert 'error' not in entry
        assert entry['wall_s'] > 0 or name == 'environment'


def test_environment_lists_versions_and_compat(smoke):
    env = result(smoke[1], 'environment')
    assert env['torch'] and env['bf16_supported'] is True
    assert 'mim_config_paths' in env['compat_applied']  # applies on every machine
    assert env['compat_flag'] == []  # flags are for GPU machines only


@pytest.mark.parametrize('section', ['pretrain_step', 'finetune_step'])
def test_step_sections_measure_every_model_and_precision(smoke, section):
    r = result(smoke[1], section)
    runs = r['runs']
    assert [(x['model'], x['precision']) for x in runs] == [
        (m, p) for m in ('ViT-S/16 toy', 'ViT-B/16 toy') for p in ('fp32', 'bf16')]
    fwd = {f['model']: f for f in r['forward_flops'] if 'toy' in f['model']}
    views = 2 if section == 'pretrain_step' else 1
    for x in runs:
        assert x['status'] == 'ok', x.get('error')
        assert x['images_per_s'] > 0 and x['steps'] == 2 and x['batch'] == 2
        assert x['optim_wrapper'] == 'OptimWrapper' and x['losses_finite']
        assert x['mfu'] is None and x['peak_tflops'] is None  # CPU: no peak, no MFU
        # a step counts the backward too: at least 3x the forward of every view of every
        # image (pre-training adds the teacher's forward: 4x)
        f = fwd[f"{x['model']} ({section.split('_')[0]})"]['counted_flops']
        assert x['gflop_per_step'] * 1e9 >= (3 + (views == 2)) * views * x['batch'] * f
        assert len(x['top_costs']['ops']) == 3  # MFU unknown: the profiler ran
        assert all(0 < o['share'] <= 1 for o in x['top_costs']['ops'])


def test_counted_forward_flops_match_the_analytic_formula(smoke):
    flops = [f for s in ('pretrain_step', 'finetune_step')
             for f in result(smoke[1], s)['forward_flops']]
    toys = [f for f in flops if 'toy' in f['model']]
    assert len(toys) == 4
    for f in toys:
        assert f['feedforward_channels'] == 4 * f['embed_dims']  # the formula's MLP ratio
        analytic = vit_forward_flops(f['embed_dims'], f['num_layers'], f['img_size'],
                                     f['patch_size'])
        assert abs(f['counted_flops'] / analytic - 1) < 0.10, f
    ref = next(f for f in flops if 'reference' in f['model'])
    assert (ref['embed_dims'], ref['num_layers'], ref['img_size']) == (384, 12, 224)
    assert abs(ref['counted_gflop'] - 9.2) < 0.1  # ViT-S/16: 4.6 G multiply-adds


def test_inference_and_numerics(smoke):
    inf = result(smoke[1], 'inference')
    assert [r['batch'] for r in inf['rows']] == [1, 2]
    for row in inf['rows']:
        assert row['images_per_s'] > 0 and 0 < row['head_mano_time_share'] < 1
    assert [r['batch'] for r in inf['bf16_rows']] == [1, 2]
    assert all(r['images_per_s'] > 0 for r in inf['bf16_rows'])
    assert inf['target_fps'] == 400 and inf['target_met_batch1'] is (
        inf['best_fps_batch1'] >= 400)
    num = result(smoke[1], 'numerics')
    assert [c['status'] for c in num['checks']] == ['ok'] * 3 and num['all_passed']
    agree = num['checks'][0]
    assert (agree['reference'], agree['candidate']) == ('cpu float64', 'cpu float32')
    assert 0 < agree['max_abs_diff']['vertices_m'] <= agree['tolerance']['vertices_m']
    for c in num['checks'][1:]:
        assert c['loss_fp32'] != c['loss_bf16'] and c['rel_diff'] <= c['rtol']


def test_tool_path_trains_resumes_and_tests(smoke):
    steps = {s['step']: s for s in result(smoke[1], 'tool_path')['steps']}
    assert set(steps) == set(TOOL_STEPS)
    for name in TOOL_STEPS:
        assert steps[name]['exit_code'] == 0, (name, steps[name].get('last_line'))
    assert steps['pretrain resume']['resumed'] and steps['finetune resume']['resumed']
    assert steps['finetune resume']['validated']
    assert {steps[k]['backend'] for k in TOOL_STEPS[:4]} == {'gloo'}  # torchrun on CPU
    assert steps['finetune test']['pa_mpjpe_mm'] is not None


def test_markdown_table_printed_and_written(smoke):
    res, _, out = smoke
    assert '| section | status | time s | error / note |' in res.stdout
    for name in SECTIONS:
        assert f'| {name} | ok |' in res.stdout
    assert '| step | model | precision | batch | images/s |' in res.stdout
    md = (out / 'gpu_check.md').read_text()
    assert md.strip() in res.stdout


def test_budget_skips_sections_that_do_not_fit(tmp_path):
    res = run_check(tmp_path, '--cpu-smoke', '--budget-s', '0', timeout=120)
    assert res.returncode == 0, (res.stdout + res.stderr)[-3000:]
    doc = json.loads((tmp_path / 'gpu_check.json').read_text())
    assert doc['sections']['environment']['status'] == 'ok'
    for name in SECTIONS[1:]:
        assert doc['sections'][name]['status'] == 'skipped'
        assert doc['sections'][name]['error'].startswith('budget:')


def test_peak_table_by_device_name():
    sys.path.insert(0, os.path.join(ROOT, 'benchmarks'))
    from gpu_check_parts import peak_tflops
    assert peak_tflops('NVIDIA H200', 'bf16') == 989.
    assert peak_tflops('NVIDIA H100 80GB HBM3', 'fp16') == 989.
    assert peak_tflops('NVIDIA H100 PCIe', 'bf16') == 756.
    assert peak_tflops('NVIDIA A100-SXM4-80GB', 'bf16') == 312.
    assert peak_tflops('NVIDIA L40S', 'bf16') == 362.
    assert peak_tflops('Tesla V100-SXM2-32GB', 'fp16') == 125.
    assert peak_tflops('Tesla V100-SXM2-32GB', 'bf16') is None  # no bf16 tensor cores
    assert peak_tflops('Some Future GPU', 'bf16') is None
    assert peak_tflops('NVIDIA H200', 'fp32') is None
