"""``python -m gateway.docs model|rules [--check] [--out FILE]``: write (or check) docs/model.md or docs/rules.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.docs.model import model_markdown
from gateway.rules import rules_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.docs", description=__doc__)
    parser.add_argument("what", choices=["model", "rules"], help="which document to generate")
    parser.add_argument("--out", type=Path, help="default: docs/model.md or docs/rules.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not what would be written")
    args = parser.parse_args(argv)
    args.out = args.out or Path(f"docs/{args.what}.md")
    try:
        text = model_markdown() if args.what == "model" else rules_markdown()
    except ValueError as exc:  # placement data missing for a new field: say which
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m gateway.docs {args.what}", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
