"""`python -m molecule.cli ...`: the `molecule` command."""

import sys

from molecule.cli.app import main

sys.exit(main())
