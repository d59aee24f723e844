"""Validators for rendered bundles: external structural checkers, domain rules, reporters."""
