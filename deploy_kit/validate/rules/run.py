"""Domain rules for big-MoE vLLM deployments: runs every rule module over every container."""

from __future__ import annotations

from collections.abc import Sequence

from deploy_kit.validate.findings import Finding
from deploy_kit.validate.invocations.base import Container
from deploy_kit.validate.rules import argv as domain_argv
from deploy_kit.validate.rules import compose as domain_compose
from deploy_kit.validate.rules import k8s as domain_k8s
from deploy_kit.validate.rules import launch as domain_launch
from deploy_kit.validate.rules import model as domain_model
from deploy_kit.validate.rules import secrets as domain_secrets
from deploy_kit.validate.rules.facts import Facts, LintContext, finding


def check(containers: Sequence[Container], ctx: LintContext) -> list[Finding]:
    """Every domain rule over every container."""
    out: list[Finding] = []
    facts: list[Facts] = []
    for c in containers:
        out += domain_argv.image_rule(c)
        out += domain_secrets.secret_rule(c)
        out += domain_argv.removed_env_rule(c, ctx.version)
        out += domain_launch.check(c)
        if c.shell_error:
            out.append(
                finding(
                    "DK100",
                    c.where,
                    c.shell_error,
                    severity="warning",
                    hint="keep the server command simple: exec vllm serve ...",
                )
            )
        if c.vllm is None:
            continue
        f = Facts(c, c.vllm, ctx)
        facts.append(f)
        out += domain_argv.argv_rule(f)
        out += domain_argv.v4_flags_rule(f)
        out += domain_model.check(f)
        out += domain_k8s.check(f)
        out += domain_compose.check(f)
    out += domain_launch.check_groups(containers, facts)
    out += domain_k8s.check_groups(facts)
    out += domain_compose.check_groups(facts)
    return out
