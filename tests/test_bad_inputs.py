"""Bad-input matrix (issue 7 item 5): every broken dataset, config, checkpoint, prediction
file, hand-model file and demo/API input gives one clear error (exception type + a message
naming the file or the problem; for command-line tools exit code 2 and ONE line on stderr),
or a logged skip where skipping is the documented behaviour; never a silent wrong result or a
deep traceback.

The tools run in-process through their ``main(argv)`` (they fail before any heavy work), except
the unknown-``type=`` case, which builds a Runner and so runs as a subprocess.
"""
import importlib.util
import json
import logging
import os
import os.path as osp
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS = osp.join(ROOT, 'tools')
CLS_CFG = osp.join(ROOT, 'tests', 'configs', 'tiny_cls.py')


# --- shared tiny data (module scope) -------------------------------------------------------
@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    """Tiny generated FreiHAND, HO3D and unlabeled roots (stand-in hand model); never
    modified: each case breaks its own copy."""
    from mmhandmim.standin.generation import (StandinHands, generate_freihand,
                                               generate_ho3d, generate_unlabeled)
    hands = StandinHands()
    base = tmp_path_factory.mktemp('bad_inputs_data')
    out = dict(freihand=str(base / 'freihand'), ho3d=str(base / 'ho3d'),
               unlabeled=str(base / 'unlabeled'))
    generate_freihand(out['freihand'], num_train=4, num_eval=2, versions=1, img_size=64,
                      seed=0, progress=False, hands=hands)
    generate_ho3d(out['ho3d'], num_train=4, num_eval=2, num_seqs=1, seed=0, progress=False,
                  hands=hands)
    generate_unlabeled(out['unlabeled'], num=3, img_size=32, seed=0, progress=False,
                       hands=hands)
    return out


@pytest.fixture(scope='module')
def tiny_ckpt(tmp_path_factory):
    """(config path, checkpoint path) of the tiny mesh estimator of the API tests."""
    from tests.test_apis.conftest import tiny_config

    from mmhandmim.apis import init_mesh_model
    folder = tmp_path_factory.mktemp('bad_inputs_model')
    cfg = tiny_config()
    cfg_path, ckpt_path = str(folder / 'tiny.py'), str(folder / 'tiny.pth')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    torch.save({'state_dict': init_mesh_model(cfg).state_dict()}, ckpt_path)
    return cfg_path, ckpt_path


@pytest.fixture(scope='module')
def tiny_model(tiny_ckpt):
    from mmhandmim.apis import init_mesh_model
    return init_mesh_model(*tiny_ckpt)


def copy_root(src, tmp_path):
    dst = str(tmp_path / 'root')
    shutil.copytree(src, dst)
    return dst


def truncate(path, keep=0.5):
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:int(len(data) * keep)])


# --- datasets: raise with the problem and the path ----------------------------------------
def freihand(root, tmp_path, **kw):
    from mmhandmim.datasets import FreiHANDMeshDataset
    return FreiHANDMeshDataset(root, image_versions=('gs', ), image_size=64,
                               cache_dir=str(tmp_path / 'cache'), **kw)


def ho3d(root, tmp_path):
    from mmhandmim.datasets import HO3DMeshDataset
    return HO3DMeshDataset(root, cache_dir=str(tmp_path / 'cache'))


def unlabeled(**kw):
    from mmpretrain.registry import DATASETS
    return DATASETS.build(dict(type='UnlabeledHandDataset', _scope_='mmpretrain', **kw))


def ds_freihand_root_missing(r, tmp):
    path = str(tmp / 'no_freihand_here')
    freihand(path, tmp)
    return path


def ds_freihand_missing_K(r, tmp):
    root = copy_root(r['freihand'], tmp)
    os.remove(osp.join(root, 'training_K.json'))
    freihand(root, tmp)
    return osp.join(root, 'training_K.json')


def ds_freihand_count_mismatch(r, tmp):
    root = copy_root(r['freihand'], tmp)
    path = osp.join(root, 'training_xyz.json')
    with open(path) as f:
        xyz = json.load(f)
    with open(path, 'w') as f:
        json.dump(xyz[:-1], f)
    freihand(root, tmp)
    return root


def ds_freihand_truncated_json(r, tmp):
    root = copy_root(r['freihand'], tmp)
    truncate(osp.join(root, 'training_K.json'))
    freihand(root, tmp)
    return osp.join(root, 'training_K.json')


def _ho3d_first_meta(root):
    with open(osp.join(root, 'train.txt')) as f:
        seq, frame = f.read().split()[0].split('/')
    return osp.join(root, 'train', seq, 'meta', frame + '.pkl')


def ds_ho3d_missing_meta(r, tmp):
    root = copy_root(r['ho3d'], tmp)
    meta = _ho3d_first_meta(root)
    os.remove(meta)
    ho3d(root, tmp)
    return meta


def ds_ho3d_truncated_meta(r, tmp):
    root = copy_root(r['ho3d'], tmp)
    meta = _ho3d_first_meta(root)
    truncate(meta)
    ho3d(root, tmp)
    return meta


def ds_unlabeled_empty_folder(r, tmp):
    empty = tmp / 'empty'
    empty.mkdir()
    unlabeled(data_prefix=dict(img_path=str(empty)))
    return str(empty)


def ds_unlabeled_bad_side_flag(r, tmp):
    # a list line whose side is neither l nor r (a left/right flag the reader does check)
    lst = tmp / 'list.txt'
    lst.write_text('images/00000000.jpg 1 2 20 22 x\n')
    unlabeled(ann_file=str(lst), data_prefix=dict(img_path=r['unlabeled']))
    return str(lst)


def ds_mesh_corrupt_image(r, tmp):
    from mmhandmim.datasets import FreiHANDMeshDataset
    root = copy_root(r['freihand'], tmp)
    ds = FreiHANDMeshDataset(
        root, image_versions=('gs', ), image_size=64, cache_dir=str(tmp / 'cache'),
        pipeline=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.0),
                  dict(type='MeshTopdownAffine', input_size=(32, 32)),
                  dict(type='PackMeshInputs')])
    path = ds.get_data_info(1)['img_path']
    with open(path, 'wb') as f:
        f.write(b'\xff\xd8 not a jpeg')
    ds[1]
    return path


def ds_unlabeled_strict_corrupt_image(r, tmp):
    folder = tmp / 'imgs'
    shutil.copytree(osp.join(r['unlabeled'], 'images'), folder)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8 truncated')
    ds = unlabeled(data_prefix=dict(img_path=str(folder)), pipeline=[dict(type='LoadHandCrop')])
    idx = [i for i in range(len(ds)) if ds.get_data_info(i)['img_path'].endswith('broken.jpg')]
    ds[idx[0]]
    return str(folder / 'broken.jpg')


DATASET_CASES = [
    # (case: builds/uses the broken input and raises), exception type, message regex
    pytest.param(ds_freihand_root_missing, FileNotFoundError,
                 r"FreiHAND at '.*no_freihand_here' is not usable: the folder does not exist",
                 id='freihand-root-missing'),
    pytest.param(ds_freihand_missing_K, FileNotFoundError,
                 r'missing file .*training_K\.json.*Expected layout', id='freihand-missing-K'),
    pytest.param(ds_freihand_count_mismatch, FileNotFoundError,
                 r'xyz has 3 entries, K has 4', id='freihand-json-count-mismatch'),
    pytest.param(ds_freihand_truncated_json, ValueError,
                 r'training_K\.json: not valid JSON .*truncated', id='freihand-truncated-json'),
    pytest.param(ds_ho3d_missing_meta, FileNotFoundError,
                 r'HO3D at .* missing meta file .*meta/0000\.pkl', id='ho3d-missing-meta'),
    pytest.param(ds_ho3d_truncated_meta, ValueError,
                 r'meta/0000\.pkl: cannot read HO3D meta pickle .*damaged',
                 id='ho3d-truncated-meta'),
    pytest.param(ds_unlabeled_empty_folder, ValueError,
                 r'UnlabeledHandDataset: image folder .*empty holds no images',
                 id='unlabeled-empty-folder'),
    pytest.param(ds_unlabeled_bad_side_flag, ValueError,
                 r'1 bad lines in .*list\.txt: line 1 .*expected "path \[x0 y0 x1 y1\] \[l\|r\]"',
                 id='unlabeled-list-bad-side-flag'),
    pytest.param(ds_mesh_corrupt_image, IOError,
                 r'cannot load image .*00000001\.jpg: .*corrupt.*FreiHANDMeshDataset sample 1',
                 id='mesh-dataset-corrupt-image'),
    pytest.param(ds_unlabeled_strict_corrupt_image, IOError,
                 r'cannot load image .*broken\.jpg: not a decodable image',
                 id='unlabeled-strict-corrupt-image'),
]


@pytest.mark.parametrize('make, exc_type, message', DATASET_CASES)
def test_dataset_errors(make, exc_type, message, roots, tmp_path, mmpose_scope):
    with pytest.raises(exc_type) as err:
        make(roots, tmp_path)
    assert re.search(message, str(err.value), re.S), str(err.value)


def test_unlabeled_corrupt_image_is_a_logged_skip(roots, tmp_path):
    """skip_bad_images=True: the next readable sample, one WARNING naming the file, counted."""
    from mmengine.logging import MMLogger
    folder = tmp_path / 'imgs'
    shutil.copytree(osp.join(roots['unlabeled'], 'images'), folder)
    bad = folder / '00000001.jpg'
    bad.write_bytes(b'\xff\xd8 truncated')
    ds = unlabeled(data_prefix=dict(img_path=str(folder)), pipeline=[dict(type='LoadHandCrop')],
                   skip_bad_images=True)
    records = []

    class Grab(logging.Handler):
        def emit(self, record):
            records.append((record.levelno, record.getMessage()))

    logger, handler = MMLogger.get_current_instance(), Grab()
    logger.addHandler(handler)
    try:
        sample = ds[1]
    finally:
        logger.removeHandler(handler)
    assert sample['img_path'] == ds.get_data_info(2)['img_path'] and sample['img'].ndim == 3
    assert ds.num_bad_images == 1 and ds.bad_image_paths == {str(bad)}
    warnings = [m for lv, m in records if lv == logging.WARNING]
    assert len(warnings) == 1 and f'skipped unreadable image {bad}' in warnings[0]
    assert '1 unreadable image(s), 1 replacement(s)' in warnings[0]


# --- command-line tools: exit 2, one line on stderr ---------------------------------------
def load_script(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_main(script, argv, capsys, monkeypatch):
    """Run ``script``'s ``main(argv)`` in-process -> (exit code, stderr)."""
    monkeypatch.syspath_prepend(TOOLS)  # tools/*.py import _bootstrap
    module = load_script(osp.join(ROOT, script),
                         'bad_inputs_' + re.sub(r'\W', '_', script))
    capsys.readouterr()
    try:
        code = module.main(argv)
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr().err


def one_error_line(code, err):
    assert code == 2, (code, err[-3000:])
    assert 'Traceback' not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    assert 'error: ' in lines[0]
    return lines[0]


def cli_train_missing_config(tmp, ctx):
    return 'tools/train.py', [str(tmp / 'no_such_config.py')]


def cli_train_missing_data_root(tmp, ctx):
    return 'tools/train.py', [CLS_CFG, '--work-dir', str(tmp / 'work'), '--cfg-options',
                              f'train_dataloader.dataset.data_root={tmp / "missing_data"}']


def cli_test_missing_checkpoint(tmp, ctx):
    return 'tools/test.py', [CLS_CFG, str(tmp / 'gone.pth'), '--work-dir', str(tmp / 'work')]


def _ckpt_file(tmp, kind):
    path = tmp / f'{kind}.pth'
    if kind == 'text':
        path.write_text('this is a text file, not a checkpoint\n')
    elif kind == 'jpeg':
        path.write_bytes(b'\xff\xd8\xff\xe0 an image renamed to .pth')
    elif kind == 'empty':
        path.write_bytes(b'')
    elif kind == 'truncated':
        torch.save({'state_dict': {'teacher.backbone.w': torch.zeros(4096)}}, str(path))
        truncate(str(path))
    elif kind == 'foreign':
        from fractions import Fraction
        torch.save({'state_dict': {}, 'meta': {'lr': Fraction(1, 3)}}, str(path))
    return path


def cli_extract(kind):
    def make(tmp, ctx):
        return ('tools/model_converters/extract_handmim_backbone.py',
                [str(_ckpt_file(tmp, kind)), str(tmp / 'out.pth')])
    return make


def _predictions(tmp, kind):
    """A 3-sample FreiHAND-protocol ground truth (40 vertices) and a broken prediction file."""
    from mmhandmim.evaluation import write_submission
    rng = np.random.default_rng(0)
    xyz, verts = rng.normal(0, .04, (3, 21, 3)) + .6, rng.normal(0, .04, (3, 40, 3)) + .6
    gt = tmp / 'gt'
    gt.mkdir()
    (gt / 'evaluation_xyz.json').write_text(json.dumps(xyz.tolist()))
    (gt / 'evaluation_verts.json').write_text(json.dumps(verts.tolist()))
    pred, _ = write_submission(xyz + .005, verts + .005, tmp / 'sub')
    if kind == 'truncated':
        truncate(pred, 0.9)
    else:
        p_xyz, p_verts = json.load(open(pred))
        if kind == 'count':
            p_xyz, p_verts = p_xyz[:-1], p_verts[:-1]
        elif kind == 'nan':
            p_xyz[1][3][2] = float('nan')
        elif kind == 'verts':
            p_verts = [v + v[:5] for v in p_verts]
        with open(pred, 'w') as f:
            json.dump([p_xyz, p_verts], f)
    return ('tools/analysis/eval_hand_mesh.py',
            ['--pred', str(pred), '--gt-dir', str(gt), '--protocol', 'freihand',
             '--out-dir', str(tmp / 'report')])


def cli_demo_empty_folder(tmp, ctx):
    cfg, ckpt = ctx['tiny_ckpt']
    (tmp / 'empty').mkdir()
    return 'demo/image_demo.py', [cfg, ckpt, str(tmp / 'empty'), '--out-dir', str(tmp / 'o')]


CLI_CASES = [
    pytest.param(cli_train_missing_config, r"train\.py: error: config file not found: "
                 r"'.*no_such_config\.py'", id='train-missing-config'),
    pytest.param(cli_train_missing_data_root, r"train\.py: error: data root not found: "
                 r"'.*missing_data' \(set by train_dataloader\.dataset\.data_root\)",
                 id='train-missing-data-root'),
    pytest.param(cli_test_missing_checkpoint,
                 r"test\.py: error: checkpoint not found: '.*gone\.pth",  # (closing ' stripped)
                 id='test-missing-checkpoint'),
    # (one line naming the file, but the reason given is an unpickling opcode and the
    # suggestion to trust the file, not "this is not a checkpoint")
    pytest.param(cli_extract('jpeg'),
                 r'extract_handmim_backbone\.py: error: refusing to load .*jpeg\.pth',
                 id='extract-not-a-checkpoint-binary'),
    pytest.param(cli_extract('text'),
                 r'extract_handmim_backbone\.py: error: .*text\.pth',
                 id='extract-not-a-checkpoint-text'),
    pytest.param(cli_extract('empty'),
                 r'extract_handmim_backbone\.py: error: .*empty\.pth',
                 id='extract-empty-file'),
    pytest.param(cli_extract('truncated'),
                 r'extract_handmim_backbone\.py: error: .*truncated\.pth',
                 id='extract-truncated-pth'),
    pytest.param(cli_extract('foreign'),
                 r'extract_handmim_backbone\.py: error: refusing to load .*foreign\.pth: it '
                 r'holds pickled objects of unknown type: fractions\.Fraction.*'
                 r'MMHANDMIM_TRUST_CHECKPOINTS=1', id='extract-foreign-pickled-class'),
    pytest.param(lambda tmp, ctx: _predictions(tmp, 'truncated'),
                 r'^error: .*invalid JSON at line 1', id='eval-pred-truncated-json'),
    pytest.param(lambda tmp, ctx: _predictions(tmp, 'count'),
                 r'^error: .*expected 3 samples', id='eval-pred-sample-count'),
    pytest.param(lambda tmp, ctx: _predictions(tmp, 'nan'),
                 r'^error: .*non-finite values \(NaN\) in sample 1', id='eval-pred-nan'),
    pytest.param(lambda tmp, ctx: _predictions(tmp, 'verts'),
                 r'^error: .*45 vertices per sample but the ground truth has 40',
                 id='eval-pred-vertex-count'),
    pytest.param(cli_demo_empty_folder,
                 r"image_demo\.py: error: no images \(.*\) in folder '.*empty",  # (' stripped)
                 id='demo-empty-folder'),
]


@pytest.fixture
def ctx(request):
    """Module fixtures a CLI case needs, built only when asked for."""
    class Lazy(dict):
        def __missing__(self, key):
            self[key] = request.getfixturevalue(key)
            return self[key]
    return Lazy()


@pytest.mark.parametrize('make, message', CLI_CASES)
def test_cli_errors(make, message, tmp_path, ctx, capsys, monkeypatch):
    script, argv = make(tmp_path, ctx)
    line = one_error_line(*run_main(script, argv, capsys, monkeypatch))
    assert re.search(message, line), line
    assert not (tmp_path / 'out.pth').exists() and not (tmp_path / 'report').exists()


def test_cli_train_unknown_module_type(tmp_path):
    """A misspelt ``type=`` (through --cfg-options) is named, with a hint; a real process,
    as the error comes from building the Runner."""
    data = tmp_path / 'data'
    data.mkdir()
    opts = [f'{k}_dataloader.dataset.data_root={data}' for k in ('train', 'val', 'test')]
    res = subprocess.run(
        [sys.executable, 'tools/train.py', CLS_CFG, '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', *opts, 'model.backbone.type=NoSuchBackbone'],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, PYTHONUNBUFFERED='1'))
    assert res.returncode == 2, res.stderr[-3000:]
    assert 'Traceback' not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if 'error:' in ln]
    assert len(lines) == 1, res.stderr[-3000:]
    assert re.search(r'train\.py: error: .*NoSuchBackbone.*\(unknown module type', lines[0])


# --- checkpoint loading (library) ---------------------------------------------------------
def test_foreign_pickled_class_is_refused(tmp_path):
    from mmhandmim.engine.checkpoint import UnsafeCheckpointError, load_checkpoint_file
    path = _ckpt_file(tmp_path, 'foreign')
    with pytest.raises(UnsafeCheckpointError, match=r'refusing to load .*foreign\.pth: it '
                       r'holds pickled objects of unknown type: fractions\.Fraction'):
        load_checkpoint_file(str(path), map_location='cpu', trusted=False)


# --- hand model files ---------------------------------------------------------------------
def mano_missing(tmp):
    from mmhandmim.hand_model import MANOLayer
    MANOLayer(model_path=str(tmp / 'MANO_RIGHT.pkl'))


def mano_not_a_pickle(tmp):
    from mmhandmim.hand_model import MANOLayer
    (tmp / 'MANO_RIGHT.pkl').write_bytes(b'not a pickle at all')
    MANOLayer(model_path=str(tmp / 'MANO_RIGHT.pkl'))


def mano_pickled_list(tmp):
    from mmhandmim.hand_model import MANOLayer
    (tmp / 'MANO_RIGHT.pkl').write_bytes(pickle.dumps([1, 2, 3]))
    MANOLayer(model_path=str(tmp / 'MANO_RIGHT.pkl'))


def mano_dict_without_model_keys(tmp):
    from mmhandmim.hand_model import MANOLayer
    (tmp / 'MANO_RIGHT.pkl').write_bytes(pickle.dumps({'hello': np.zeros(3)}))
    MANOLayer(model_path=str(tmp / 'MANO_RIGHT.pkl'))


def mano_left_file_for_right_layer(tmp):
    from mmhandmim.hand_model import MANOLayer
    from mmhandmim.hand_model.mano_io import resolve_mano_file
    left = resolve_mano_file('standin', is_rhand=False)
    shutil.copy(left, tmp / 'MANO_RIGHT.pkl')  # a left model under the right hand's name
    MANOLayer(model_path=str(tmp / 'MANO_RIGHT.pkl'), is_rhand=True)


HAND_MODEL_CASES = [
    pytest.param(mano_missing, FileNotFoundError,
                 r"MANO model file not found: '.*MANO_RIGHT\.pkl'", id='mano-missing-file'),
    pytest.param(mano_not_a_pickle, pickle.UnpicklingError,
                 r"MANO_RIGHT\.pkl' is not a readable MANO model pickle",
                 id='mano-not-a-pickle'),
    pytest.param(mano_pickled_list, pickle.UnpicklingError,
                 r"'.*MANO_RIGHT\.pkl' holds a list, not the dict a MANO model file holds",
                 id='mano-pickled-list'),
    pytest.param(mano_dict_without_model_keys, KeyError,
                 r"MANO_RIGHT\.pkl' is not a MANO model file: it lacks ",
                 id='mano-dict-without-model-keys'),
    pytest.param(mano_left_file_for_right_layer, ValueError,
                 r"MANO_RIGHT\.pkl' holds a left-hand model .* but the right hand was asked for",
                 id='mano-left-file-for-right-layer'),
]


@pytest.mark.parametrize('make, exc_type, message', HAND_MODEL_CASES)
def test_hand_model_errors(make, exc_type, message, tmp_path):
    with pytest.raises(exc_type) as err:
        make(tmp_path)
    assert re.search(message, str(err.value)), str(err.value)


# --- inference API ------------------------------------------------------------------------
IMAGE = np.full((48, 64, 3), 128, np.uint8)

API_CASES = [
    pytest.param(dict(bboxes=[[100, 10, 140, 40]]),
                 r'box 0 \[100, 10, 140, 40\] is outside the 64x48 image', id='box-outside'),
    pytest.param(dict(bboxes=[[10, 10, 5, 40]]), r'box 0 .* is empty: need x2 > x1',
                 id='box-empty'),
    pytest.param(dict(bboxes=[[0, 0, 30, 30]], hand_sides='middle'),
                 r"hand side must be 'left', 'right' or a bool .*got 'middle'",
                 id='wrong-side-flag'),
    pytest.param(dict(bboxes=[[0, 0, 30, 30]], hand_sides=['left', 'right']),
                 r'got 2 hand side flags for 1 boxes', id='side-flag-count'),
]


@pytest.mark.parametrize('kwargs, message', API_CASES)
def test_inference_api_errors(tiny_model, kwargs, message):
    from mmhandmim.apis import InferenceInputError, inference_mesh_model
    with pytest.raises(InferenceInputError, match=message):
        inference_mesh_model(tiny_model, IMAGE, **kwargs)
