"""vLLM: the argv and env of a plan (the one place flags are spelled) and the flag table.

Imports: spec and the base modules only; never planner.
"""

from deploy_kit.vllm.argv import PINNED_VLLM, base_env, image_for, serve_argv
from deploy_kit.vllm.flags import check_argv, parse_argv

__all__ = ["PINNED_VLLM", "base_env", "check_argv", "image_for", "parse_argv", "serve_argv"]
