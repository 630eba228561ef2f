"""Drives every tab of app.py in headless Debian Chromium with Playwright; screenshots go to screenshots/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parent.parent / "screenshots"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian chromium is not installed (apt-get install -y chromium); CI installs it", allow_module_level=True
    )


@pytest.fixture(scope="module")
def page(app_server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on(
            "request", lambda r: outside.append(r.url) if not r.url.startswith((app_server, "data:", "blob:")) else None
        )
        page.goto(app_server, wait_until="load")
        page.wait_for_selector("#run", timeout=60_000)
        page.outside_requests = outside
        yield page
        browser.close()


def tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def pick_variant(page, name: str) -> None:
    page.click("#variant input")
    page.get_by_role("option", name=re.compile(name)).first.click()


def test_playground_pair_shows_predictions_heatmap_and_saliency(page):
    pick_variant(page, "multi-cross")
    page.get_by_label("similarity").first.check()
    page.fill("#sentence-a textarea", "A man is playing a guitar.")
    page.fill("#sentence-b textarea", "A man plays an instrument.")
    page.click("#run")
    page.wait_for_selector("#heatmap .js-plotly-plot", timeout=60_000)
    page.wait_for_selector("#saliency .textfield", timeout=60_000)
    assert "gauge" in page.content() or page.locator(".indicatorlayer").count() > 0
    assert page.locator("#heatmap").inner_text().count("layer 6")
    page.get_by_label("Only the A→B block").check()
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('A→B block')", timeout=30_000)
    page.screenshot(path=str(SHOTS / "1-playground.png"), full_page=True)


def test_html_input_is_shown_as_text_and_empty_input_gets_a_message(page):
    tab(page, "Playground")
    page.get_by_label("sentiment").first.check()
    page.fill("#sentence-a textarea", '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>')
    page.click("#run")
    page.wait_for_selector("#saliency .textfield", timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    page.fill("#sentence-a textarea", "   ")
    page.click("#run")
    page.wait_for_selector("text=Sentence A is empty", timeout=30_000)
    page.screenshot(path=str(SHOTS / "2-empty-input.png"))


def test_compare_two_variants(page):
    tab(page, "Compare")
    page.click("#compare-preset")
    page.wait_for_function(
        "document.querySelector('#compare-table').innerText.includes('single-cross')", timeout=60_000
    )
    page.wait_for_selector("#compare-line p", timeout=30_000)
    table = page.locator("#compare-table").inner_text()
    assert "single-concat" in table and "single-cross" in table
    assert page.locator(".js-plotly-plot:visible").count() >= 2
    page.screenshot(path=str(SHOTS / "3-compare.png"), full_page=True)


def test_hard_case_opens_in_playground(page):
    tab(page, "Hard cases")
    page.wait_for_selector("text=STS: high overlap", timeout=30_000)
    first_sentence = page.locator(".hard-case-table [data-testid=cell-0-0]").first
    text = first_sentence.inner_text().strip()
    page.screenshot(path=str(SHOTS / "4-hard-cases.png"), full_page=True)
    first_sentence.click()
    page.wait_for_function(
        f"document.querySelector('#sentence-a textarea').value.startsWith({text[:20]!r})", timeout=30_000
    )
    assert page.get_by_role("tab", name="Playground").get_attribute("aria-selected") == "true"


def test_results_chart_and_confusion(page):
    tab(page, "Results")
    page.wait_for_selector("#results-chart .js-plotly-plot", timeout=30_000)
    assert "multi-cross" in page.locator("#results-table").inner_text()
    page.wait_for_selector("text=SST dev", timeout=30_000)
    page.screenshot(path=str(SHOTS / "5-results.png"), full_page=True)


def test_batch_upload_returns_a_file(page, tmp_path):
    tab(page, "Batch")
    csv_path = tmp_path / "sentences.csv"
    csv_path.write_text('sentence\nA wonderful film.\n"A dull, tired mess."\n')
    page.set_input_files("#batch-file input[type=file]", str(csv_path))
    page.wait_for_selector("#batch-file .file-preview", timeout=30_000)
    page.click("#batch-run")
    page.wait_for_selector("#batch-out a[download]", timeout=60_000)
    assert "2 rows" in page.locator("#batch-note").inner_text()
    returned = page.request.get(page.locator("#batch-out a[download]").first.get_attribute("href")).text()
    assert returned.splitlines()[0].startswith("sentence,predicted,p_very_negative")
    assert len(returned.splitlines()) == 3
    page.screenshot(path=str(SHOTS / "6-batch.png"), full_page=True)


def test_broken_variant_is_listed_and_nothing_is_fetched_from_outside(page):
    assert "broken-variant" in page.locator("#broken-variants").inner_text()
    assert page.outside_requests == []
