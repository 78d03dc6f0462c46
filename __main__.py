import sys

from mailscanner.cli import main

sys.exit(main())
