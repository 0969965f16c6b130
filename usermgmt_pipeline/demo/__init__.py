"""A synthetic but realistic CASE dataset and the demo's config; `devtools/demo.py` (not installed) runs it on a
local FerretDB."""

from pathlib import Path

DEMO_CONFIG = Path(__file__).with_name("demo_config.yaml")
"""The bundled demo config (package data): the demo's `CONFIG_FILE_PATH`, and `make ui`'s."""
