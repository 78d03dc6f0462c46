import sys

from mailscanner.cli import main

# Guarded: multiprocessing may import the main module again in its helper processes
# (the scanner's parse processes), where running the command line would be wrong.
if __name__ == "__main__":
    sys.exit(main())
