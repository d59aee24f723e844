"""The command line (click): parse, call the stages, print, map errors to exit codes.

`deploy_kit.cli.main:main` is the console script; subcommands load lazily from their modules.
"""
