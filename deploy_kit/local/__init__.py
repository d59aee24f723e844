"""`up` / `down` on this machine: preflight through the docker SDK, compose up, wait for health.

Imports: renderer, planner, vllm, inventory and the base modules; never cli.
"""

from deploy_kit.local.checks import CheckResult, PreflightFailed
from deploy_kit.local.up import ComposeCommands, bundle_paths, check_disk, check_single_node

__all__ = [
    "CheckResult",
    "ComposeCommands",
    "PreflightFailed",
    "bundle_paths",
    "check_disk",
    "check_single_node",
]
