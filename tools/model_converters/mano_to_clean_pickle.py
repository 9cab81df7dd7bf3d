"""Convert a MANO pickle (official, with chumpy objects) to a clean numpy/scipy-only pickle.

    python tools/model_converters/mano_to_clean_pickle.py MANO_RIGHT.pkl out/MANO_RIGHT.pkl

Needs no chumpy: the file is read with mmhandmim's restricted unpickler, which refuses any
class other than numpy, scipy.sparse and chumpy arrays. The output loads with plain
``pickle.load`` (and with ``smplx.MANO``). The MANO licence still applies to the output.
"""
import argparse
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from mmhandmim.hand_model.mano_io import (ChumpyRecord, MANOUnpickler,  # noqa: E402
                                          chumpy_to_numpy, load_raw_mano)
from mmhandmim.utils.atomic_io import atomic_write_bytes  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('in_pkl', help='MANO_RIGHT.pkl or MANO_LEFT.pkl (official or clean)')
    p.add_argument('out_pkl', help='where to write the clean pickle')
    p.add_argument('--force', action='store_true', help='overwrite OUT_PKL if it exists')
    return p.parse_args(argv)


def convert(in_pkl: str, out_pkl: str, force: bool = False) -> dict:
    if os.path.exists(out_pkl) and not force:
        raise FileExistsError(f'{out_pkl!r} exists; pass --force to overwrite it.')
    if os.path.abspath(in_pkl) == os.path.abspath(out_pkl):
        raise ValueError('OUT_PKL must differ from IN_PKL.')
    raw = load_raw_mano(in_pkl)
    data = chumpy_to_numpy(raw, where=os.path.basename(in_pkl))
    converted = sorted(k for k, v in raw.items() if isinstance(v, ChumpyRecord))
    atomic_write_bytes(pickle.dumps(data, protocol=2), out_pkl)
    with open(out_pkl, 'rb') as f:  # the result must need nothing but numpy/scipy
        MANOUnpickler(f).load()
    return {'keys': sorted(data), 'converted_from_chumpy': converted}


def main(argv=None):
    args = parse_args(argv)
    info = convert(args.in_pkl, args.out_pkl, args.force)
    print(f'Wrote {args.out_pkl} with keys {info["keys"]}; converted from chumpy: '
          f'{info["converted_from_chumpy"] or "none"}')


if __name__ == '__main__':
    main()
