"""Kubernetes: connect, server-side apply of a bundle in dependency order, workload status.

The kubernetes client is imported lazily. Imports: spec and the base modules; never cli.
"""

from deploy_kit.cluster.apply import (
    FIELD_MANAGER,
    ApplyFailure,
    ApplyReport,
    ApplyResult,
    DryRun,
    apply_bundle,
)
from deploy_kit.cluster.client import Connection, connect
from deploy_kit.cluster.status import (
    DEFAULT_SELECTOR,
    WorkloadStatus,
    list_nodes,
    workload_status,
)

__all__ = [
    "DEFAULT_SELECTOR",
    "FIELD_MANAGER",
    "ApplyFailure",
    "ApplyReport",
    "ApplyResult",
    "Connection",
    "DryRun",
    "WorkloadStatus",
    "apply_bundle",
    "connect",
    "list_nodes",
    "workload_status",
]
