"""One partition per CASE instance: runs, backfills and reruns are per instance, as the operators think."""

from __future__ import annotations

from collections.abc import Sequence

from dagster import StaticPartitionsDefinition


def instance_partitions(instance_ids: Sequence[str]) -> StaticPartitionsDefinition:
    return StaticPartitionsDefinition(list(instance_ids))
