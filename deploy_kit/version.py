"""The release of deploy-kit (kept equal to pyproject.toml's version; a test checks it)."""

__version__ = "0.1.0"
