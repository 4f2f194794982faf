"""``python -m lbp_outcomes`` is the same as the ``lbp-outcomes`` command."""

import sys

from lbp_outcomes.cli import main

sys.exit(main())
