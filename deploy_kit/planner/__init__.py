"""Planning: layouts, rules, memory and KV arithmetic, performance estimates, the chosen plan.

Imports: spec, catalog, inventory, vllm and the base modules; never renderer, validate or cli.
"""

from deploy_kit.planner.candidates import Candidate, Target, resolve_target
from deploy_kit.planner.search import plan

__all__ = ["Candidate", "Target", "plan", "resolve_target"]
