"""Structural checks: the real validators (found by `tools`, installed by `install`), CRD schemas,
kustomize builds."""
