"""A tiny mesh estimator saved as config + checkpoint, and a few generated FreiHAND images."""
import pytest
import torch
from mmengine.config import Config

from tests.test_mesh.conftest import pipeline, tiny_model


def tiny_config():
    """The tiny estimator of the mesh tests with the datasets' test pipeline (64 px crops)."""
    return Config(dict(model=tiny_model(),
                       test_dataloader=dict(dataset=dict(pipeline=pipeline(train=False)))))


@pytest.fixture(scope='session')
def tiny_ckpt(tmp_path_factory):
    """(config path, checkpoint path) of a randomly initialised model whose estimates depend
    on the image (the regressors' tiny initial output layers are scaled up)."""
    from mmhandmim.apis import init_mesh_model
    root = tmp_path_factory.mktemp('tiny_model')
    cfg = tiny_config()
    cfg_path, ckpt_path = str(root / 'tiny.py'), str(root / 'tiny.pth')
    cfg.dump(cfg_path)
    torch.manual_seed(0)
    model = init_mesh_model(cfg)
    with torch.no_grad():
        for reg in model.head.regressors:
            for layer in reg.dec.values():
                layer.weight.mul_(20.0)
    torch.save({'state_dict': model.state_dict()}, ckpt_path)
    return cfg_path, ckpt_path


@pytest.fixture(scope='session')
def freihand_tiny(tmp_path_factory):
    from mmhandmim.standin.generation import generate_freihand
    root = tmp_path_factory.mktemp('freihand_tiny')
    generate_freihand(str(root), num_train=2, num_eval=3, versions=1, img_size=96, seed=3,
                      progress=False)
    return str(root)
