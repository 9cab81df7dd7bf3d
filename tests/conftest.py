"""Shared test setup: the stack's run-time fixes come before anything imports mmengine."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import mmhandmim.compat  # noqa: E402,F401  (must precede mmengine/mmcv imports)
