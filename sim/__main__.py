"""``python -m sim`` is the ``multivector`` command."""

import sys

from sim.tools.cli import main

sys.exit(main())
