"""`python -m noetl_pg.gateway`: the user's guide's `python -m noetl.server.app`."""

from noetl_pg.gateway.server import main

raise SystemExit(main())
