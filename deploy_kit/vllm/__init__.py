"""vLLM: the argv and env of a plan (the one place flags are spelled) and the flag table.

`deploy_kit.vllm.flags` (checking argv against a version's flag table) is imported on use: the
plan path never needs it. Imports: spec and the base modules only; never planner.
"""

from deploy_kit.vllm.argv import PINNED_VLLM, base_env, image_for, serve_argv

__all__ = ["PINNED_VLLM", "base_env", "image_for", "serve_argv"]
