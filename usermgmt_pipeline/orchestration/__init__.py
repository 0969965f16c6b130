"""The thin Dagster layer over the domain core: partitions per instance, task assets, checks, jobs, schedule,
sensors, resources and loggers. `build_definitions` assembles them for one loaded config."""
