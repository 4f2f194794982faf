"""Print reports/report.html to PDF in headless Chromium and list what does not fit the page.

    python scripts/check_report_print.py [reports/report.html] [--pdf report.pdf] [--screen]

Loads the report in Chromium (Playwright, with the system's /usr/bin/chromium: no browser
download, no network), emulates print media at the A4 page column of report.css
(210 mm - 2 x 12 mm margins), and measures every table, figure image and flow diagram:
one wider than the column is cut off on paper. Also reports tables wider than the screen
column (they scroll sideways there) with --screen. Exit status 1 when anything overflows.
tests/e2e/test_report_print.py calls :func:`check`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A4 (210 mm) minus the @page margins of report.css (12 mm each side), at CSS's 96 px/inch.
PRINT_COLUMN_PX = round((210 - 2 * 12) / 25.4 * 96)

# Every block that must fit: its right edge within the body, and nothing inside it wider
# than itself (a table inside an overflow:auto wrapper scrolls instead of widening it).
_MEASURE = """
() => {
  const column = document.body.getBoundingClientRect();
  const found = [];
  const name = (el) => {
    const holder = el.closest('figure, .table-wrap');
    const label = holder && holder.querySelector('caption .label, figcaption .label');
    return label ? label.textContent.trim() : el.tagName.toLowerCase();
  };
  const blocks = document.querySelectorAll('table, figure img, .flow-grid, dl.keyvalues, pre');
  for (const el of blocks) {
    const box = el.getBoundingClientRect();
    const wrap = el.closest('.table-wrap');
    const limit = wrap ? Math.min(column.right, wrap.getBoundingClientRect().right) : column.right;
    const over = Math.max(box.right - limit, el.scrollWidth - el.clientWidth, 0);
    found.push({what: name(el), kind: el.tagName.toLowerCase(), width: box.width,
                overflow: over});
  }
  return found;
}
"""


@dataclass(frozen=True)
class Block:
    what: str  # "Table 11." / "Figure 3." / tag name
    kind: str
    width: float  # CSS px
    overflow: float  # CSS px beyond the column (0 = fits)


def measure(html: Path, media: str = "print", width: int = PRINT_COLUMN_PX,
            pdf: Path | None = None) -> list[Block]:  # fmt: skip
    """Every table/figure/flow of ``html`` as laid out by Chromium at ``width`` CSS px."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 1200})
            page.emulate_media(media=media)
            page.goto(html.resolve().as_uri(), wait_until="load")
            blocks = [Block(**b) for b in page.evaluate(_MEASURE)]
            if pdf is not None:
                page.pdf(path=str(pdf), prefer_css_page_size=True, print_background=True)
        finally:
            browser.close()
    return blocks


def check(html: Path, pdf: Path | None = None) -> list[Block]:
    """The blocks wider than the printed page column (empty: everything fits)."""
    return [b for b in measure(html, "print", PRINT_COLUMN_PX, pdf) if b.overflow > 0.5]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="reports/report.html", type=Path)
    parser.add_argument("--pdf", type=Path, help="also write the printed PDF here")
    parser.add_argument("--screen", action="store_true", help="also check a 1024 px screen")
    args = parser.parse_args(argv)
    blocks = measure(args.html, "print", PRINT_COLUMN_PX, args.pdf)
    bad = [b for b in blocks if b.overflow > 0.5]
    tables = [b for b in blocks if b.kind == "table"]
    print(f"print (A4 column {PRINT_COLUMN_PX} px): {len(bad)} of {len(blocks)} blocks too wide "
          f"({sum(b in bad for b in tables)} of {len(tables)} tables)")  # fmt: skip
    for b in bad:
        print(f"  {b.what} ({b.kind}): {b.width:.0f} px, {b.overflow:.0f} px beyond the column")
    if args.screen:
        wide = [b for b in measure(args.html, "screen", 1024) if b.overflow > 0.5]
        print(f"screen (1024 px window): {len(wide)} blocks scroll sideways")
        for b in wide:
            print(f"  {b.what} ({b.kind}): {b.overflow:.0f} px beyond the column")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
