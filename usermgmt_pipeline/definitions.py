"""The Dagster code location: `dagster dev -m usermgmt_pipeline.definitions`.

The config comes from CONFIG_FILE_PATH, as for the Go job; without it the code location fails to load
(there is no default config). Loading it here creates no database client; a bad config fails the code
location with a message naming the key.
"""

from usermgmt_pipeline.orchestration.build import load_definitions

defs = load_definitions()
