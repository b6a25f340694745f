"""`python -m monitor check|record|replay`: see `monitor.cli`."""

import sys

from monitor.cli import main

sys.exit(main())
