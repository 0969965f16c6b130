"""CASE user-management job as a Dagster pipeline.

The domain core (config, CASE data access, ID mapping, templates, study engine, tasks) knows nothing
of Dagster; the Dagster layer lives in `usermgmt_pipeline.orchestration` and `usermgmt_pipeline.definitions`.
"""
