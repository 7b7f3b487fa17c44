"""``python -m gateway.docs model [--check] [--out docs/model.md]``: write (or check) docs/model.md."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.docs.model import model_markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.docs", description=__doc__)
    parser.add_argument("what", choices=["model"], help="which document to generate")
    parser.add_argument("--out", type=Path, default=Path("docs/model.md"), help="default: docs/model.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not what would be written")
    args = parser.parse_args(argv)
    try:
        text = model_markdown()
    except ValueError as exc:  # placement data missing for a new field: say which
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        current = args.out.read_text(encoding="utf-8") if args.out.is_file() else ""
        if current != text:
            print(f"{args.out} is stale: run python -m gateway.docs model", file=sys.stderr)
            return 1
        return 0
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
