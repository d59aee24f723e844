"""`deploy-kit smoke`: check that a running endpoint serves what the guide promises, and measure it.

`runner.run` drives the protocol checks (`checks.py`) and the optional load probe (`load.py`)
against one base URL with the official `openai` client; `report.py` turns the result into a
table, JSON or JUnit XML. Nothing here is imported by a command that does not run smoke.
"""
