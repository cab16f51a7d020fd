"""``python -m sim`` is the ``multivector`` command."""

import sys

from sim.cli import main

sys.exit(main())
