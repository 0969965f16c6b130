"""Developer tools beside the package, never installed with it: the local MongoDB-wire server the demo and
the test suite start (`local_mongo`) and the one-command demo (`python -m devtools.demo`).

Not part of `usermgmt_pipeline` because production never starts a database: pyproject's package find
includes `usermgmt_pipeline*` only, and no module of the package imports from here.
"""
