"""`python -m monitor serve|check|record|replay`, or `realtime-monitor`: see `monitor.cli`."""

import sys

from monitor.cli import main

sys.exit(main())
