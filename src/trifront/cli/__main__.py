"""``python -m trifront.cli``: the ``trifront`` command."""

import sys

from trifront.cli import main

sys.exit(main())
