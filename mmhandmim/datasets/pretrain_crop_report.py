"""The accounting of a ``make_pretrain_crops.py`` run: every hand of every source is written
or dropped for one counted reason, and one summary table says which.

A record (one per source, as ``sources.json`` stores it) holds ``kind``, ``inputs``, ``hands``
(all the source offered; COCO-WholeBody: two per person, valid or not), ``dropped`` (reason ->
count, every reason of ``hand_boxes.DROP_REASONS``), ``examples`` (reason -> the first
dropped hand), ``rescaled`` (Youtube3DHands frames whose boxes were scaled to the size on
disk), ``left_flipped``, ``written`` and the crop index range ``first_index:end_index``.
Per source, ``hands == written + sum(dropped.values())``.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .hand_boxes import DROP_REASONS

#: summary table columns: (header, record key or drop reason)
COLUMNS = (('hands', 'hands'), ('invalid', 'invalid flag'), ('empty', 'empty box'),
           ('small', 'too small'), ('aspect', 'aspect mismatch'),
           ('outside', 'outside image'), ('missing', 'missing image'),
           ('unreadable', 'unreadable image'), ('written', 'written'),
           ('rescaled', 'rescaled'), ('flipped', 'left_flipped'))
#: reasons that are the sources' own filters (not worth a warning)
FILTERS = ('invalid flag', 'too small')


def _cell(record: Dict, key: str) -> int:
    return record['dropped'][key] if key in DROP_REASONS else record[key]


def _name(record: Dict) -> str:
    inp = record['inputs']
    path = str(inp.get('ann_file') or inp.get('list_file') or inp.get('root', ''))
    return path.rstrip('/').replace('\\', '/').rsplit('/', 1)[-1]


def format_summary(records: Sequence[Dict], total: int) -> str:
    """One table: per source the hands offered, dropped per reason, written, rescaled,
    left hands mirrored; a total row."""
    head = ('source', ) + tuple(h for h, _ in COLUMNS)
    rows = [head]
    for r in records:
        rows.append((f'{r["kind"]} ({_name(r)})', *(_cell(r, k) for _, k in COLUMNS)))
    sums = [sum(_cell(r, k) for r in records) for _, k in COLUMNS]
    sums[[k for _, k in COLUMNS].index('written')] = total
    rows.append(('total', *sums))
    widths = [max(len(str(row[c])) for row in rows) for c in range(len(head))]
    lines = ['  '.join(str(v).ljust(widths[c]) if c == 0 else str(v).rjust(widths[c])
                       for c, v in enumerate(row)) for row in rows]
    lines.insert(1, '-' * len(lines[0]))
    lines.insert(len(lines) - 1, '-' * len(lines[0]))
    return '\n'.join(lines)


def collect_results(records: Sequence[Dict], status: Dict[int, Optional[Tuple[str, str]]],
                    origins: Dict[int, Tuple[str, str, str, str]]
                    ) -> Tuple[List[int], List[Tuple[int, Tuple[str, str]]]]:
    """Fold the crop results (index -> None or (reason, detail)) into the records.

    Returns:
        (sorted written indices, sorted [(index, (reason, detail))] of the skipped crops).
    """
    written = sorted(i for i, res in status.items() if res is None)
    skipped = sorted((i, res) for i, res in status.items() if res is not None)
    bounds = np.array([[r['first_index'], r['end_index']] for r in records]).reshape(-1, 2)
    lo, hi = np.searchsorted(written, bounds[:, 0]), np.searchsorted(written, bounds[:, 1])
    owner = np.searchsorted(bounds[:, 1], [i for i, _ in skipped], side='right')
    for r, a, b in zip(records, lo, hi):
        r['written'] = int(b - a)
        r['left_flipped'] = sum(origins[i][3] == 'l' for i in written[a:b])
    for (i, (reason, detail)), k in zip(skipped, owner):
        records[k]['dropped'][reason] += 1
        records[k]['examples'].setdefault(reason, f'{origins[i][1]}: {detail}')
    return written, skipped


def drop_warnings(records: Sequence[Dict]) -> List[str]:
    """One line per source that lost hands to more than its own filters, one per source
    whose boxes were rescaled."""
    lines = []
    for r in records:
        lost = {k: v for k, v in r['dropped'].items() if v and k not in FILTERS}
        if lost:
            first = next(iter(lost))
            lines.append(f'warning: {r["kind"]}: skipped ' + ', '.join(
                f'{v} ({k})' for k, v in lost.items()) + f' of {r["hands"]} hands; first '
                f'{first}: {r["examples"][first]}')
        if r['rescaled']:
            lines.append(f'note: {r["kind"]}: {r["rescaled"]} frames on disk have another '
                         'size than annotated; their boxes were scaled to it')
    return lines


__all__ = ['COLUMNS', 'collect_results', 'drop_warnings', 'format_summary']
