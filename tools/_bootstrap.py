"""Put the repository root on sys.path and apply the stack's run-time fixes.

Imported first by every script under tools/, so they work without installing the package
and in processes started by torchrun or srun.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim.compat  # noqa: E402,F401
