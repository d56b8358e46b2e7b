"""``python -m classroom.cli``: the same as the ``classroom`` command."""

import sys

from classroom.cli import main

sys.exit(main())
