import sys

from gasp.cli import main

sys.exit(main())
