"""``python -m focalcall`` runs the command line."""
import sys

from focalcall.cli import main

sys.exit(main())
