import sys

from sargasses.cli import main

sys.exit(main())
