"""Unreadable images: UnlabeledHandDataset raises naming the path, or (skip_bad_images)
replaces the sample by the next readable one, counting and logging it; the mesh datasets name
a missing or corrupt image, the dataset and the index."""
import logging
import os

import cv2
import numpy as np
import pytest

from mmhandmim.datasets.unlabeled_hands import ImageLoadError

from .toy import captured_log


def _hand_folder(root, n=4):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        cv2.imwrite(str(root / f'img{i}.png'), rng.integers(0, 255, (24, 32, 3), np.uint8))
    return root


def _unlabeled(root, **kwargs):
    from mmpretrain.registry import DATASETS
    return DATASETS.build(dict(type='UnlabeledHandDataset', data_prefix=dict(img_path=str(root)),
                               pipeline=[dict(type='LoadHandCrop')], **kwargs))


def test_unlabeled_strict_names_corrupt_and_missing_paths(tmp_path):
    root = _hand_folder(tmp_path / 'imgs')
    (root / 'img1.png').write_bytes(b'\x89PNG truncated')
    ds = _unlabeled(root)
    with pytest.raises(ImageLoadError, match='img1.png') as err:
        ds[1]
    assert err.value.path.endswith('img1.png') and 'decodable' in str(err.value)
    os.remove(root / 'img2.png')
    with pytest.raises(ImageLoadError, match='img2.png'):
        ds[2]


@pytest.mark.parametrize('test_mode', [False, True])
def test_unlabeled_skip_replaces_with_next_sample_and_counts(tmp_path, test_mode):
    from mmengine.logging import MMLogger
    root = _hand_folder(tmp_path / 'imgs')
    (root / 'img1.png').write_bytes(b'garbage')
    ds = _unlabeled(root, skip_bad_images=True, test_mode=test_mode)
    os.remove(root / 'img3.png')  # the last one: its replacement wraps around to sample 0
    paths = [ds.get_data_info(i)['img_path'] for i in range(len(ds))]
    with captured_log(MMLogger.get_current_instance()) as log:
        assert ds[1]['img_path'] == paths[2]  # deterministic: the next index
        assert ds[1]['img_path'] == paths[2]
        assert ds[3]['img_path'] == paths[0]
        assert ds[0]['img_path'] == paths[0]
    assert ds.num_bad_images == 3  # every replacement counts
    assert ds.bad_image_paths == {paths[1], paths[3]}
    warnings = [m for lv, m in log.records if lv == logging.WARNING]
    assert len(warnings) == 2  # one warning per unreadable path
    assert paths[1] in warnings[0] and 'using sample 2 instead' in warnings[0]
    assert '1 unreadable image(s), 1 replacement(s)' in warnings[0]
    assert paths[3] in warnings[1] and '2 unreadable image(s), 3 replacement(s)' in warnings[1]


def test_unlabeled_skip_gives_up_when_nothing_is_readable(tmp_path):
    root = _hand_folder(tmp_path / 'imgs', n=2)
    for name in ('img0.png', 'img1.png'):
        (root / name).write_bytes(b'garbage')
    ds = _unlabeled(root, skip_bad_images=True)
    with pytest.raises(ImageLoadError, match='all unreadable'):
        ds[0]


@pytest.fixture(scope='module')
def freihand_root(tmp_path_factory):
    from mmhandmim.standin.generation import StandinHands, generate_freihand
    root = tmp_path_factory.mktemp('freihand')
    generate_freihand(str(root), num_train=2, num_eval=1, versions=1, img_size=64, seed=1,
                      progress=False, hands=StandinHands())
    return root


def test_mesh_dataset_names_missing_and_corrupt_images(freihand_root, mmpose_scope):
    from mmpose.registry import DATASETS
    ds = DATASETS.build(dict(
        type='FreiHANDMeshDataset', data_root=str(freihand_root), split='training',
        image_versions=('gs', ), image_size=64,
        pipeline=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.0),
                  dict(type='MeshTopdownAffine', input_size=(32, 32)),
                  dict(type='PackMeshInputs')]))
    assert ds[0]['inputs'].shape[-2:] == (32, 32)  # readable images are untouched
    corrupt, missing = ds.get_data_info(0)['img_path'], ds.get_data_info(1)['img_path']
    with open(corrupt, 'wb') as f:
        f.write(b'\xff\xd8 not a jpeg')
    os.remove(missing)
    with pytest.raises(ImageLoadError) as err:
        ds[0]
    msg = str(err.value)
    assert corrupt in msg and 'corrupt' in msg and 'FreiHANDMeshDataset sample 0' in msg
    with pytest.raises(ImageLoadError) as err:
        ds[1]
    assert missing in str(err.value) and 'does not exist' in str(err.value)
    assert err.value.path == missing


def test_image_load_error_survives_dataloader_reraise():
    # torch re-raises a worker's exception as ``type(exc)(message)``
    exc = ImageLoadError('Caught ImageLoadError in DataLoader worker process 0 ...')
    assert 'worker process' in str(exc) and exc.path is None
