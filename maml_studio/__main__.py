import sys

from maml_studio.cli import main

sys.exit(main())
