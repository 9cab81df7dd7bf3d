"""Extract the ViT backbone from a HandMIM pre-training checkpoint for fine-tuning.

    python tools/model_converters/extract_handmim_backbone.py CKPT OUT.pth
        [--source teacher|student] [--force]

Writes ``{'state_dict': {'backbone.<key>': tensor}, 'meta': {...}}`` holding tensors and
plain values only (loadable with ``torch.load(..., weights_only=True)``). Fine-tuning configs
load it into ``mmpretrain.VisionTransformer`` with
``init_cfg=dict(type='Pretrained', checkpoint=OUT, prefix='backbone.')``; the teacher (EMA)
weights are the default, as in DINO/iBOT.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
import mmhandmim.compat  # noqa: E402,F401

import torch  # noqa: E402

from mmhandmim.engine.checkpoint import load_checkpoint_file  # noqa: E402
from mmhandmim.models.selfsup.checkpoint import handmim_to_backbone_state_dict  # noqa: E402
from mmhandmim.utils.atomic_io import atomic_output  # noqa: E402
from mmhandmim.utils.cli import check_file, user_errors  # noqa: E402
from mmhandmim.utils.errors import UserInputError  # noqa: E402


def extract(ckpt_path, out_path, source='teacher', force=False):
    check_file(ckpt_path, 'pre-training checkpoint')
    if osp.exists(out_path) and not force:
        raise UserInputError(f'{out_path!r} exists; pass --force to overwrite it')
    # a training checkpoint holds mmengine objects (message hub, numpy RNG states) besides
    # tensors: read with weights_only=True allowing exactly those classes; a file with other
    # pickled objects is refused unless MMHANDMIM_TRUST_CHECKPOINTS=1
    ckpt = load_checkpoint_file(ckpt_path, map_location='cpu')  # its errors are one line
    state = ckpt.get('state_dict', ckpt)
    try:
        backbone = handmim_to_backbone_state_dict(state, source=source)
    except KeyError as exc:
        raise UserInputError(f'{ckpt_path}: {exc.args[0]}') from None
    meta = dict(source=source, from_checkpoint=osp.abspath(ckpt_path),
                epoch=int(ckpt.get('meta', {}).get('epoch', -1)),
                iter=int(ckpt.get('meta', {}).get('iter', -1)))
    with atomic_output(out_path) as tmp:  # never leave a truncated file behind
        torch.save(dict(state_dict={k: v.contiguous() for k, v in backbone.items()},
                        meta=meta), tmp)
    return backbone, meta


def main(argv=None):
    p = argparse.ArgumentParser(description='Extract the backbone of a HandMIM checkpoint')
    p.add_argument('checkpoint')
    p.add_argument('out')
    p.add_argument('--source', choices=['teacher', 'student'], default='teacher')
    p.add_argument('--force', action='store_true', help='overwrite OUT if it exists')
    args = p.parse_args(argv)
    with user_errors('extract_handmim_backbone.py'):
        backbone, meta = extract(args.checkpoint, args.out, args.source, args.force)
    print(f'wrote {len(backbone)} {args.source} backbone tensors '
          f'({sum(v.numel() for v in backbone.values()) / 1e6:.2f} M parameters, epoch '
          f'{meta["epoch"]}, iter {meta["iter"]}) to {args.out}')


if __name__ == '__main__':
    main()
