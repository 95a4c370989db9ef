"""The ``thv`` command line (:mod:`.declarative` holds the app and its entry point for now)."""

from .declarative import COMMAND_MODULES, CORE_COMMANDS, main, register_commands

__all__ = ["COMMAND_MODULES", "CORE_COMMANDS", "main", "register_commands"]
