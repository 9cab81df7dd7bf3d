"""UnlabeledHandDataset sources, validation, bad images; LoadHandCrop; a short Runner run."""
import json

import cv2
import numpy as np
import pytest
from mmpretrain.registry import DATASETS, TRANSFORMS

from mmhandmim.datasets.unlabeled_hands import ImageLoadError

from .tiny import PACK_CFG, VIEW_CFG, blob_image


def _write_images(folder, n, rng, sub='a/b'):
    (folder / sub).mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / (sub if i % 2 else '') / f'img{i}.png'
        cv2.imwrite(str(path), blob_image(rng))
        paths.append(path)
    return paths


def _build(**cfg):
    return DATASETS.build(dict(type='UnlabeledHandDataset', **cfg))


def test_folder_source_is_recursive(tmp_path):
    _write_images(tmp_path, 5, np.random.default_rng(0))
    (tmp_path / 'notes.txt').write_text('not an image')
    ds = _build(data_prefix=dict(img_path=str(tmp_path)),
                pipeline=[dict(type='LoadHandCrop')])
    assert len(ds) == 5
    assert ds[0]['img'].shape == (80, 96, 3) and ds[0]['img'].dtype == np.uint8


def test_list_source_boxes_sides_and_crop(tmp_path):
    img = blob_image(np.random.default_rng(1))
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    (tmp_path / 'list.txt').write_text('a.png\n# comment\n\na.png 10 20 50 60 r\n'
                                       'a.png 10 20 50 60 l\n')
    ds = _build(ann_file=str(tmp_path / 'list.txt'), data_prefix=dict(img_path=str(tmp_path)),
                pipeline=[dict(type='LoadHandCrop', padding=1.0)])
    assert len(ds) == 3
    whole, right, left = ds[0]['img'], ds[1]['img'], ds[2]['img']
    assert np.array_equal(whole, img)
    assert np.array_equal(right, img[20:60, 10:50])
    assert np.array_equal(left, right[:, ::-1])  # left hands become right hands
    # padding beyond the image is zero-filled; resizing makes out_size crops
    crop = TRANSFORMS.build(dict(type='LoadHandCrop', padding=2.0, out_size=32))(
        dict(img_path=str(tmp_path / 'a.png'), bbox=[0, 0, 20, 20], hand_side='right'))
    assert crop['img'].shape == (32, 32, 3) and crop['img'][:8, :8].max() == 0


def test_coco_wholebody_source(tmp_path):
    cv2.imwrite(str(tmp_path / 'x.jpg'), blob_image(np.random.default_rng(2)))
    coco = dict(images=[dict(id=7, file_name='x.jpg')], annotations=[
        dict(image_id=7, lefthand_box=[5, 5, 30, 20], lefthand_valid=True,
             righthand_box=[40, 10, 20, 30], righthand_valid=True),
        dict(image_id=7, lefthand_box=[0, 0, 0, 0], lefthand_valid=False,
             righthand_box=[1, 1, 3, 3], righthand_valid=True)])
    (tmp_path / 'wb.json').write_text(json.dumps(coco))
    ds = _build(ann_file=str(tmp_path / 'wb.json'), data_prefix=dict(img_path=str(tmp_path)),
                min_box_size=8)
    sides = [ds.get_data_info(i)['hand_side'] for i in range(len(ds))]
    assert sides == ['left', 'right']
    assert ds.get_data_info(0)['bbox'] == [5, 5, 35, 25]  # xywh -> xyxy


def test_invalid_roots_raise_one_clear_error(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        _build(data_prefix=dict(img_path=str(tmp_path / 'missing')))
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError, match='no images'):
        _build(data_prefix=dict(img_path=str(tmp_path / 'empty')))
    with pytest.raises(ValueError, match='does not exist'):
        _build(ann_file=str(tmp_path / 'nope.txt'))
    (tmp_path / 'bad.txt').write_text('a.png 1 2 3\nb.png 5 5 1 1\nc.png\nd.png 1 2 3 4 x\n')
    with pytest.raises(ValueError) as err:
        _build(ann_file=str(tmp_path / 'bad.txt'), data_prefix=dict(img_path=str(tmp_path)))
    msg = str(err.value)
    assert '3 bad lines' in msg and 'line 1' in msg and 'line 2' in msg and 'line 4' in msg


def test_bad_images_are_skipped_or_named(tmp_path):
    _write_images(tmp_path, 3, np.random.default_rng(3), sub='')
    (tmp_path / 'broken.png').write_bytes(b'not really a png')
    pipeline = [dict(type='LoadHandCrop')]
    strict = _build(data_prefix=dict(img_path=str(tmp_path)), pipeline=pipeline)
    bad_idx = [i for i in range(len(strict))
               if strict.get_data_info(i)['img_path'].endswith('broken.png')][0]
    with pytest.raises(ImageLoadError, match='broken.png'):
        strict[bad_idx]
    lenient = _build(data_prefix=dict(img_path=str(tmp_path)), pipeline=pipeline,
                     skip_bad_images=True)
    sample = lenient[bad_idx]
    assert not sample['img_path'].endswith('broken.png') and sample['img'].ndim == 3
    assert lenient.num_bad_images >= 1


def test_runner_trains_with_pipeline_and_hooks(tmp_path):
    """Dataset -> LoadHandCrop -> HandMultiView -> PackInputs -> HandMIM with the 3 hooks."""
    import torch
    from mmengine.runner import Runner

    from .tiny import MODEL_CFG
    _write_images(tmp_path / 'imgs', 4, np.random.default_rng(4))
    view = {k: v for k, v in VIEW_CFG.items()}
    cfg = dict(
        default_scope='mmpretrain',
        model=MODEL_CFG,
        work_dir=str(tmp_path / 'work'),
        train_dataloader=dict(
            batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            dataset=dict(type='UnlabeledHandDataset',
                         data_prefix=dict(img_path=str(tmp_path / 'imgs')),
                         pipeline=[dict(type='LoadHandCrop'), view, PACK_CFG])),
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.04),
                           clip_grad=dict(max_norm=3.0)),
        custom_hooks=[dict(type='TeacherEMAHook', momentum=0.996),
                      dict(type='TeacherTempHook', warmup_temp=0.04, temp=0.07,
                           warmup_epochs=2),
                      dict(type='FreezeLastLayerHook', freeze_epochs=1)],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2),
                           logger=dict(type='LoggerHook', interval=1)),
        randomness=dict(seed=0))
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model
    assert model.distill_loss.teacher_temp == pytest.approx(0.07)
    ckpt = torch.load(tmp_path / 'work' / 'epoch_2.pth', weights_only=False)
    assert any(k.startswith('teacher.backbone.') for k in ckpt['state_dict'])
    assert not torch.equal(model.teacher.backbone.cls_token, model.backbone.cls_token)
