"""The `molecule` command line (molecule.cli.app): the platform's own commands and a client
of its HTTP API. `python -m molecule.cli` runs it too."""

from molecule.cli.app import cli, main

__all__ = ["cli", "main"]
