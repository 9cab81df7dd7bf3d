"""The mim extension: setup.py puts configs/, tools/, demo/ and model-index.yml into
mmhandmim/.mim (links for an editable install, copies for a wheel or sdist), and a config
anywhere can then inherit ours as ``_base_ = ['mmhandmim::<path under configs/>']``
(mmhandmim.compat teaches mmengine that prefix; our configs keep their relative bases)."""
import filecmp
import importlib.util
import os
import os.path as osp
import shutil
import subprocess
import sys
import zipfile

import pytest
from mmengine import Config

import mmhandmim

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
MIM = osp.join(osp.dirname(osp.abspath(mmhandmim.__file__)), '.mim')


def load_setup():
    spec = importlib.util.spec_from_file_location('mmhandmim_setup', osp.join(ROOT, 'setup.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not __main__: setup() is not called
    return module


def fake_checkout(root):
    for rel, text in [('configs/a.py', 'a = 1\n'), ('configs/mesh/b.py', 'b = 2\n'),
                      ('tools/train.py', '# tool\n'), ('demo/run_demo.sh', '# demo\n'),
                      ('model-index.yml', 'Import: []\n'), ('mmhandmim/__init__.py', '')]:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    # what a previous install of the other kind left there
    stale = root / 'mmhandmim' / '.mim' / 'configs'
    stale.mkdir(parents=True)
    (stale / 'old.py').write_text('old = 1\n')


@pytest.mark.parametrize('command, link', [('editable_wheel', True), ('develop', True),
                                           ('bdist_wheel', False), ('sdist', False)])
def test_add_mim_extension(tmp_path, monkeypatch, command, link):
    setup_py = load_setup()
    fake_checkout(tmp_path)
    monkeypatch.setattr(setup_py, 'HERE', str(tmp_path))
    monkeypatch.setattr(sys, 'argv', ['setup.py', command])
    setup_py.add_mim_extension()
    mim = tmp_path / 'mmhandmim' / '.mim'
    assert sorted(os.listdir(mim)) == sorted(setup_py.MIM_FILES)
    for name in setup_py.MIM_FILES:
        assert osp.islink(mim / name) == link, name
        if link:  # relative: survives moving the checkout
            assert os.readlink(mim / name) == osp.join('..', '..', name)
    assert (mim / 'configs' / 'mesh' / 'b.py').read_text() == 'b = 2\n'
    assert not (mim / 'configs' / 'old.py').exists()
    assert (mim / 'model-index.yml').read_text() == 'Import: []\n'


def test_other_setup_commands_leave_mim_alone(tmp_path, monkeypatch):
    setup_py = load_setup()
    monkeypatch.setattr(setup_py, 'HERE', str(tmp_path))
    monkeypatch.setattr(sys, 'argv', ['setup.py', 'egg_info'])
    setup_py.add_mim_extension()
    assert not (tmp_path / 'mmhandmim').exists()


def test_installed_package_has_the_mim_files():
    """What `make install` made (an editable install: links into this checkout)."""
    assert osp.isdir(MIM), f'{MIM} is missing: reinstall the package (make install)'
    assert filecmp.cmp(osp.join(MIM, 'model-index.yml'), osp.join(ROOT, 'model-index.yml'),
                       shallow=False)
    for rel in ('configs/handmim_vit-s.py', 'configs/mesh/handmim-s_pymaf_freihand.py',
                'configs/handmim/metafile.yml', 'configs/mesh/metafile.yml', 'tools/train.py',
                'demo/image_demo.py'):
        assert osp.isfile(osp.join(MIM, rel)), rel


def test_mmengine_reads_the_metafiles():
    from mmengine.config.utils import _get_cfg_metainfo
    package = osp.dirname(MIM)
    meta = _get_cfg_metainfo(package, 'mesh/handmim-s_pymaf_freihand.py')
    assert meta['Config'] == 'configs/mesh/handmim-s_pymaf_freihand.py'
    assert _get_cfg_metainfo(package, 'handmim_vit-s.py')['Name'] == 'handmim_vit-s'


def write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize('base, model_type, scope', [
    ('handmim_vit-s.py', 'HandMIM', 'mmpretrain'),  # top level: no '/' in the path
    ('handmim/ibot_vit-s.py', 'HandMIM', 'mmpretrain'),
    ('mesh/handmim-s_pymaf_freihand.py', 'HandMeshEstimator', 'mmpose'),
    ('mmpose/td-hm_handmim-vit-s_freihand2d-224.py', 'TopdownPoseEstimator', 'mmpose'),
])
def test_inherit_with_mmhandmim_prefix_from_outside(tmp_path, base, model_type, scope):
    """A user's config in any folder; the base's own relative bases still resolve."""
    user = write(tmp_path / 'user.py', f"_base_ = ['mmhandmim::{base}']\n"
                                       'train_cfg = dict(max_epochs=3)\n')
    cfg = Config.fromfile(user)
    ref = Config.fromfile(osp.join(ROOT, 'configs', base))
    assert cfg.model.type == model_type and cfg.default_scope == scope
    assert cfg.model == ref.model and cfg.train_dataloader == ref.train_dataloader
    assert cfg.train_cfg.max_epochs == 3
    # no `_scope_='mmhandmim'`: our modules live in mmpretrain's/mmpose's registries, so
    # building must happen in the config's default scope (mmengine would look for a
    # 'mmhandmim' registry and fail)
    assert cfg.model.get('_scope_') == ref.model.get('_scope_')


def test_the_inherited_config_builds(tmp_path, mmpretrain_scope):
    from mmpretrain.registry import MODELS
    user = write(tmp_path / 'user.py', "_base_ = ['mmhandmim::handmim_vit-s.py']\n"
                 'model = dict(backbone=dict(arch=dict(_delete_=True, embed_dims=32, '
                 'num_layers=2, num_heads=2, feedforward_channels=64)),\n'
                 '             projection_head=dict(in_channels=32), decoder=dict(in_channels=32))\n')
    model = MODELS.build(Config.fromfile(user).model)
    assert type(model).__name__ == 'HandMIM' and len(model.backbone.layers) == 2


def test_missing_config_and_other_packages(tmp_path):
    user = write(tmp_path / 'user.py', "_base_ = ['mmhandmim::no_such.py']\n")
    with pytest.raises(FileNotFoundError, match='make install'):
        Config.fromfile(user)
    other = write(tmp_path / 'other.py', "_base_ = ['mmpose::_base_/default_runtime.py']\n")
    assert Config.fromfile(other).default_scope == 'mmpose'  # still mmengine's lookup


@pytest.mark.timeout(300)
def test_wheel_ships_the_mim_files(tmp_path):
    """`pip wheel` on a copy of the checkout (the real one keeps its editable links)."""
    src = tmp_path / 'src'
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for name in ('configs', 'tools', 'demo', 'requirements', 'mmhandmim'):
        shutil.copytree(osp.join(ROOT, name), src / name, ignore=ignore)
    for name in ('setup.py', 'MANIFEST.in', 'README.md', 'model-index.yml'):
        shutil.copy(osp.join(ROOT, name), src / name)
    res = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                          '--no-build-isolation', '--disable-pip-version-check', '-q',
                          '-w', str(tmp_path / 'dist'), str(src)],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel, ) = (tmp_path / 'dist').glob('mmhandmim-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in ('model-index.yml', 'configs/handmim_vit-s.py', 'configs/mesh/metafile.yml',
                'configs/_base_/schedules/handmim_adamw_400e.py', 'tools/train.py',
                'tools/dist_train.sh', 'demo/run_demo.sh'):
        assert f'mmhandmim/.mim/{rel}' in names, rel
    assert not any('__pycache__' in n for n in names)
