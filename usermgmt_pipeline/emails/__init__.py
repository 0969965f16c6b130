"""Email queueing exactly as CASE's `QueueEmailByTemplate` does it (docs/tasks.md §3)."""
