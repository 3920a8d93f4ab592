"""python -m conformance"""

import sys

try:
    from conformance.cli import main

    status = main()
except KeyboardInterrupt:  # ^C: the backends cleaned up on the way out; no traceback
    print("interrupted", file=sys.stderr)
    status = 130
sys.exit(status)
