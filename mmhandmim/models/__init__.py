from . import mesh  # noqa: F401
from . import selfsup  # noqa: F401
