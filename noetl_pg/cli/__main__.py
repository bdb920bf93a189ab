import sys

from noetl_pg.cli.main import main

sys.exit(main())
