"""The jobs' names, importable without Dagster: the CLI names the job in its alerts whether or not it runs
the tasks through Dagster (`cli`), and an alert must name the job an operator finds in the UI."""

USER_MANAGEMENT_JOB = "user_management_job"
LOOKUP_JOB = "generate_profile_id_lookup_job"
DRY_RUN_JOB = "user_management_dry_run_job"
