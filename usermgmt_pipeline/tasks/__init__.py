"""The five user-management tasks as plain functions over the CASE databases (no Dagster here).

Each task handles one instance and returns a `TaskResult`; `usermgmt_pipeline.tasks.registry` lists them in
the original's execution order.
"""
