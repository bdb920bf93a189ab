"""What touches PostgreSQL, and the only code that does.

Data access has one shape (`access.DataAccess`): a class wrapping an `AsyncConnection`
whose methods read like sentences and run named queries from `queries/*.sql`. Client
events are written by `control.py` alone; refusals are the `errors.StoreError` family.
The store knows nothing of what a playbook means (it never imports `noetl_pg.dsl`).
"""
