"""Email queueing exactly as CASE's `QueueEmailByTemplate` does it (02 §3)."""
