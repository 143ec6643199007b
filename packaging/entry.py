"""Entry point of the desktop bundle: the same command line as the pip install."""

import sys

from maml_studio.cli import main

if __name__ == "__main__":
    sys.exit(main())
