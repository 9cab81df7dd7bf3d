"""Model zoo metadata: model-index.yml imports one metafile per config family (OpenMMLab
format, as mmpretrain/mmpose); every pre-training and fine-tuning config is listed exactly
once, by an existing path, under a unique name; nothing claims a number or a checkpoint,
since nothing has been trained on real data (the paper's numbers are in the config headers)."""
import glob
import os.path as osp
import re

import pytest
import yaml

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PAPER = dict(Title='Pose-Aware Self-Supervised Learning for 3D Hand Mesh Estimation',
             URL='https://arxiv.org/abs/2307.16061')
MESH_METRICS = ['PA-MPJPE', 'PA-MPVPE', 'F@5', 'F@15']
DATASETS = {'FreiHANDMeshDataset': 'FreiHAND', 'HO3DMeshDataset': 'HO3D'}


def read(rel):
    with open(osp.join(ROOT, rel)) as f:
        return yaml.safe_load(f)


INDEX = read('model-index.yml')
METAFILES = {rel: read(rel) for rel in INDEX['Import']}
MODELS = [m for meta in METAFILES.values() for m in meta['Models']]


def expected_configs():
    """configs/handmim_vit-*.py and every config under configs/handmim and configs/mesh."""
    found = glob.glob(osp.join(ROOT, 'configs', 'handmim_vit-*.py'))
    for family in ('handmim', 'mesh'):
        found += glob.glob(osp.join(ROOT, 'configs', family, '**', '*.py'), recursive=True)
    return sorted(osp.relpath(p, ROOT) for p in found
                  if not {'_base_', 'demo'} & set(osp.relpath(p, ROOT).split(osp.sep)))


def test_index_imports_every_metafile():
    assert INDEX['Import'] == ['configs/handmim/metafile.yml', 'configs/mesh/metafile.yml']
    on_disk = sorted(osp.relpath(p, ROOT) for p in
                     glob.glob(osp.join(ROOT, 'configs', '**', 'metafile.yml'), recursive=True))
    assert sorted(INDEX['Import']) == on_disk


def test_collections():
    for rel, meta in METAFILES.items():
        names = [c['Name'] for c in meta['Collections']]
        assert len(names) == len(set(names)), rel
        for c in meta['Collections']:
            assert c['Paper'] == PAPER, rel
            if 'README' in c:
                assert osp.isfile(osp.join(ROOT, c['README'])), c['README']
        for m in meta['Models']:
            assert m['In Collection'] in names, m['Name']


def test_every_config_listed_exactly_once_under_a_unique_name():
    configs = [m['Config'] for m in MODELS]
    for path in configs:
        assert osp.isfile(osp.join(ROOT, path)), path
    assert sorted(configs) == expected_configs()  # also: no config twice
    names = [m['Name'] for m in MODELS]
    assert len(names) == len(set(names))
    for m in MODELS:  # the OpenMMLab convention: a model is named after its config
        assert m['Name'] == osp.splitext(osp.basename(m['Config']))[0]


def test_no_numbers_and_no_weights_yet():
    for m in MODELS:
        assert m['Weights'] is None, m['Name']
        results = m['Results']
        if m['Config'].startswith('configs/mesh/'):
            assert len(results) == 1, m['Name']
            r = results[0]
            assert r['Task'] == '3D Hand Mesh Estimation'
            assert list(r['Metrics']) == MESH_METRICS, m['Name']
            assert all(v is None for v in r['Metrics'].values()), m['Name']
        else:  # pre-training has no metric of its own (mmpretrain writes null too)
            assert results is None, m['Name']


def test_metadata_matches_the_configs():
    """Dataset, epochs, pre-training and Downstream links agree with what the configs load."""
    from mmengine import Config
    by_name = {m['Name']: m for m in MODELS}
    for m in MODELS:
        cfg = Config.fromfile(osp.join(ROOT, m['Config']))
        assert m['Metadata']['Epochs'] == cfg.train_cfg.max_epochs, m['Name']
        if not m['Config'].startswith('configs/mesh/'):
            for down in m.get('Downstream', []):
                assert by_name[down]['Metadata']['Pretrained'] == m['Name']
            continue
        test = cfg.test_dataloader.dataset
        assert m['Results'][0]['Dataset'].startswith(DATASETS[test.type]), m['Name']
        if test.type == 'HO3DMeshDataset':
            assert m['Results'][0]['Dataset'] == f'HO3D {test.version}'
        init = cfg.model.backbone.get('init_cfg')
        if isinstance(init, dict) and init.get('type') == 'Pretrained':
            pre = re.match(r'work_dirs/(.+)/backbone\.pth$', init.checkpoint).group(1)
            assert m['Metadata']['Pretrained'] == pre
            assert m['Name'] in by_name[pre]['Downstream']
        else:
            assert m['Metadata']['Pretrained'].startswith('none'), m['Name']


def test_mim_readers_parse_it():
    """OpenMMLab's modelindex (what mim reads) loads it with every model and result."""
    modelindex = pytest.importorskip('modelindex.load_model_index')
    mi = modelindex.load(osp.join(ROOT, 'model-index.yml'))
    assert sorted(m.name for m in mi.models) == sorted(m['Name'] for m in MODELS)
    assert {c.name for c in mi.collections} == {
        c['Name'] for meta in METAFILES.values() for c in meta['Collections']}
