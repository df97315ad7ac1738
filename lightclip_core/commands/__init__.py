"""The command line's commands, one module per group; each declares its commands (`@command`) and the
ranges of their numeric flags (`flag_ranges`) beside them. Importing this package registers them all,
in the order ``python -m lightclip_core --help`` lists them. A new command is a function in one of
these modules (or a new module imported here) decorated with ``@command("name")``."""

from . import catalog, data, training, evaluation, benches, searching, footage  # noqa: F401 - registers the commands
from .common import COMMANDS, RANGES

__all__ = ["COMMANDS", "RANGES"]
