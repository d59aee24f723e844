"""Rendering: one plan into Dockerfile, compose, Kubernetes and Helm bundles."""
