#!/usr/bin/env python3
"""Write deploy_kit/catalog/compiled.json from the catalog's YAML files (--check: compare only)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable as `python scripts/gen_catalog.py` from a checkout
    sys.path.insert(0, str(ROOT))

from deploy_kit.catalog.documents import COMPILED, compile_documents  # noqa: E402
from deploy_kit.errors import DeployKitError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when compiled.json is stale")
    args = parser.parse_args(argv)
    try:
        text = compile_documents()
    except DeployKitError as exc:
        print(f"gen_catalog: {exc}", file=sys.stderr)
        return 2
    current = COMPILED.read_text(encoding="utf-8") if COMPILED.is_file() else ""
    if args.check:
        if current != text:
            print(
                f"{COMPILED.relative_to(ROOT)} is stale: run python scripts/gen_catalog.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        COMPILED.write_text(text, encoding="utf-8")
        print(f"wrote {COMPILED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
