import sys

from circuitxbar.cli import main

sys.exit(main())
