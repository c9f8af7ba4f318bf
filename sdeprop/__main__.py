"""``python -m sdeprop``: the ``sdeprop`` command (sdeprop/cli/)."""

import sys

from .cli import main

sys.exit(main())
