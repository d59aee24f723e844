"""`python -m deploy_kit`."""

import sys

from deploy_kit.cli import main

sys.exit(main())
