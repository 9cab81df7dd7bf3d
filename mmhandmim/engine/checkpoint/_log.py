"""Logging through mmengine's current logger, imported late (mmengine is heavy)."""
import logging


def _log(msg, level=logging.INFO):
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)
