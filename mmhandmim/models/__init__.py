from . import selfsup  # noqa: F401
