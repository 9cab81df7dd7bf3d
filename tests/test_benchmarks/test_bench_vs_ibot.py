"""``benchmarks/bench_vs_ibot.py`` needs a local clone of the official iBOT code, which is not
shipped: without one it must stop with one actionable line (exit 2), before building anything."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_bench(*args):
    return subprocess.run([sys.executable, 'benchmarks/bench_vs_ibot.py', *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))


def error_lines(res):
    return [line for line in res.stderr.splitlines() if 'error:' in line]


def test_without_ibot_repo_says_how_to_get_it():
    res = run_bench()
    assert res.returncode == 2, res.stderr[-2000:]
    lines = error_lines(res)
    assert len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    assert lines[0].startswith('bench_vs_ibot.py: error: --ibot-repo PATH is required')
    assert 'git clone https://github.com/bytedance/ibot' in lines[0]


def test_incomplete_clone_names_the_missing_files(tmp_path):
    (tmp_path / 'main_ibot.py').write_text('raise SystemExit("must not be imported")\n')
    (tmp_path / 'utils.py').write_text('')
    res = run_bench('--ibot-repo', str(tmp_path))
    assert res.returncode == 2, res.stderr[-2000:]
    lines = error_lines(res)
    assert len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    assert str(tmp_path) in lines[0]
    missing = lines[0].split('missing ', 1)[1].split(')')[0]
    assert missing == 'loader.py, models/vision_transformer.py, models/head.py'
