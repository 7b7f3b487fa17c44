"""Render the page-1 pictures of docs/statements.md for statements after
insurance: a post-insurance statement and a final notice (the statements of
tests/test_statements_cycle_pdf.py), with pdftoppm at 60 dpi.

    .venv/bin/python scripts/statement_pictures.py   # writes docs/images/statement-*.png
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.app import Gateway  # noqa: E402
from gateway.cycles import Decision  # noqa: E402
from gateway.examples import write_example_deployment  # noqa: E402
from tests.test_statements_cycle_pdf import ITEMS, _pdf, _statement  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        gw = Gateway.from_config(write_example_deployment(Path(tmp) / "deployment"))
        final = Decision("final_notice", "95 days", 95, 2, "Second reminder: {amount_due} is now past due.")
        pictures = {
            "statement-post-insurance": _statement(gw),
            "statement-final-notice": _statement(gw, ITEMS[:1], final),
        }
        for name, st in pictures.items():
            pdf = Path(tmp) / f"{name}.pdf"
            pdf.write_bytes(_pdf(gw, st))
            out = ROOT / "docs" / "images" / name
            subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", pdf, out], check=True)
            print(f"{out}.png")


if __name__ == "__main__":
    main()
