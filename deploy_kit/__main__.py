"""`python -m deploy_kit`."""

import sys

from deploy_kit.cli.main import main

sys.exit(main())
