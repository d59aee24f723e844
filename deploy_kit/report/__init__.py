"""Self-contained HTML reports of a plan and of the capacity table, with inline SVG charts.

Imports: planner, vllm, spec, catalog and the base modules.
"""

from deploy_kit.report.html import capacity_html, plan_html

__all__ = ["capacity_html", "plan_html"]
