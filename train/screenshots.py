"""The README's screenshots: ``python -m train.screenshots`` starts ``app.py`` on ``assets/``, runs a pair in the
Playground and the Explorer in headless Debian Chromium at 1280 x 800, and writes ``assets/screenshots/*.png``
(palette PNGs under 300 KB)."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

from mtbert.layout import ASSETS
from train.benchmark_app import start_app

CHROMIUM = "/usr/bin/chromium"
LIMIT = 300 * 1024


def save_small(png: bytes, path: Path) -> int:
    """Write a screenshot as a palette PNG (fewer colours until it is under LIMIT); returns its size."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    for colours in (256, 128, 64):
        buffer = io.BytesIO()
        image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(buffer, "PNG", optimize=True)
        if buffer.tell() <= LIMIT:
            break
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return buffer.tell()


def take(url: str, out: Path) -> dict[str, int]:
    """Screenshots of the Playground (a pair, with its attention map) and of the Explorer."""
    from playwright.sync_api import sync_playwright

    sizes = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless=new", "--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(
            f"{url}?task=similarity&variant=single-cross&a=A+man+is+playing+a+guitar.&b=A+man+plays+an+instrument."
        )
        page.wait_for_selector("#run", timeout=60_000)
        page.wait_for_function("document.querySelector('#sentence-b textarea').value.length > 0", timeout=30_000)
        page.click("#run")
        page.wait_for_selector("#loo .textfield", timeout=120_000)
        top = page.evaluate("document.querySelector('#sentence-a').getBoundingClientRect().top + window.scrollY")
        page.evaluate(f"window.scrollTo(0, {top} - 140)")
        page.wait_for_timeout(800)
        sizes["playground"] = save_small(page.screenshot(), out / "playground.png")
        page.get_by_role("tab", name="Explorer").click()
        page.get_by_label("Only rows where the two variants disagree").check()
        page.click("#explorer-other input")
        page.get_by_role("option", name="multi-cross", exact=True).click()
        page.click("#explorer-run")
        page.wait_for_selector("#explorer-slices .js-plotly-plot", timeout=120_000)
        page.wait_for_timeout(1500)
        page.evaluate("document.querySelector('#explorer-summary').scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        sizes["explorer"] = save_small(page.screenshot(), out / "explorer.png")
        browser.close()
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="an app already running on the shipped assets (default: start app.py)")
    parser.add_argument("--out", type=Path, default=ASSETS / "screenshots")
    args = parser.parse_args(argv)
    process, url = None, args.url
    if url is None:
        process, url, _ = start_app(ASSETS)
    try:
        for name, size in take(url, args.out).items():
            print(f"{args.out / name}.png: {size / 1024:.0f} KB")
    finally:
        if process is not None:
            process.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
