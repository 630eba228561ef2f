"""Drives every tab of app.py in headless Debian Chromium with Playwright; screenshots go to screenshots/."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from mtbert.layout import REPO
from tests.app.assets import BACKBONE, LAYERS

pytestmark = pytest.mark.xdist_group("app-server")  # one worker starts the app server these tests share

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
SHOTS = REPO / "screenshots"

if not Path(CHROMIUM).exists() and not os.environ.get("CI"):
    pytest.skip(
        "Debian chromium is not installed (apt-get install -y chromium); CI installs it", allow_module_level=True
    )


# Error toasts vanish after a few seconds: an observer keeps the text of every one that appears.
TOAST_OBSERVER = """
window.__errorToasts = [];
new MutationObserver(() => {
  for (const el of document.querySelectorAll('[data-testid="toast-body"].error')) {
    if (!el.dataset.seen) { el.dataset.seen = "1"; window.__errorToasts.push(el.innerText); }
  }
}).observe(document, {childList: true, subtree: true});
"""


@pytest.fixture(scope="module")
def page(app_server):
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(exist_ok=True)
    outside: list[str] = []
    console_errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.add_init_script(TOAST_OBSERVER)
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on(
            "request", lambda r: outside.append(r.url) if not r.url.startswith((app_server, "data:", "blob:")) else None
        )
        page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda err: console_errors.append(f"page error: {err}"))
        page.goto(app_server, wait_until="load")
        page.wait_for_selector("#run", timeout=60_000)
        page.outside_requests = outside
        page.requests = requests
        page.console_errors = console_errors
        page.expected_toasts = []
        yield page
        browser.close()


# What a failed test's report shows of the page: the panels a Run fills and any progress or toast on show.
PAGE_STATE = """() => Object.fromEntries(
  ["#note", "#heatmap", "#saliency", "#loo", "[data-testid=toast-body]", ".progress-text", ".eta-bar"]
    .map(s => [s, [...document.querySelectorAll(s)].map(e => e.innerText.slice(0, 300))]))"""


@pytest.fixture(autouse=True)
def no_errors(request, page, app_server):
    """Every test fails on an error toast it did not ask for, a browser console error, or a server traceback. A
    failed test leaves a screenshot, and its report shows what the page showed and the server's log."""
    console_before, log_before = len(page.console_errors), len(app_server.log_text())
    page.expected_toasts.clear()
    yield
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        page.screenshot(path=str(SHOTS / f"FAILED-{request.node.name}.png"), full_page=True)
        print("page state:", page.evaluate(PAGE_STATE))
        print("server log since the test began:", app_server.log_text()[log_before:][-5000:])
    page.wait_for_timeout(300)
    toasts = page.evaluate("window.__errorToasts.splice(0)")
    unexpected = [t for t in toasts if not any(e in t for e in page.expected_toasts)]
    assert not unexpected, f"error toasts: {unexpected}"
    assert page.console_errors[console_before:] == [], "browser console errors"
    new_log = app_server.log_text()[log_before:]
    assert "Traceback" not in new_log, new_log[-3000:]


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
    assert page.locator("#heatmap").inner_text().count(f"layer {LAYERS}")
    page.get_by_label("Only the A→B block").check()
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('A→B block')", timeout=30_000)
    page.screenshot(path=str(SHOTS / "1-playground.png"), full_page=True)


def test_attention_grid_opens_a_head_and_what_if_explains(page):
    # after the pair test's run: every layer x head as one image; a click opens that head above
    grid = page.locator("#attention-grid img")
    grid.wait_for(timeout=60_000)
    page.get_by_label("Only the A→B block").uncheck()
    box = grid.bounding_box()
    natural = page.evaluate("document.querySelector('#attention-grid img').naturalWidth")
    scale = box["width"] / natural
    step = (72 + 6) * scale
    x, y = (34 + 4 * 78 + 30) * scale, (34 + 2 * 78 + 30) * scale  # layer 3, head 4
    grid.click(position={"x": x, "y": y})
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('layer 3, head 4')", timeout=30_000)
    assert step > 10
    page.wait_for_selector("#loo .textfield", timeout=60_000)
    assert "A and B swapped" in page.locator("#swap").inner_text()
    page.get_by_label("Update the predictions as I type").check()
    page.fill("#sentence-b textarea", "")
    page.type("#sentence-b textarea", "A woman plays a piano.", delay=20)
    page.wait_for_function("document.querySelector('#live-line').innerText.includes('similarity')", timeout=30_000)
    page.get_by_label("Update the predictions as I type").uncheck()
    page.screenshot(path=str(SHOTS / "1-playground-what-if.png"), full_page=True)


def test_html_input_is_shown_as_text_and_empty_input_gets_a_message(page):
    tab(page, "Playground")
    page.get_by_label("sentiment").first.check()
    page.fill("#sentence-a textarea", '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>')
    page.click("#run")
    page.wait_for_selector("#saliency .textfield", timeout=60_000)
    page.wait_for_timeout(1500)
    assert page.evaluate("window.__xss") is None
    assert page.locator("img[src='x']").count() == 0
    page.expected_toasts.append("Sentence A is empty")
    page.fill("#sentence-a textarea", "   ")
    page.click("#run")
    page.wait_for_selector("text=Sentence A is empty", timeout=30_000)
    page.wait_for_timeout(1500)  # the steps that follow a prediction do not run, so they do not say it again
    said = page.evaluate("window.__errorToasts.filter(t => t.includes('Sentence A is empty')).length")
    assert said == 1
    for close in page.locator("[data-testid=toast-body] .toast-close").all():
        close.click()
    page.screenshot(path=str(SHOTS / "2-empty-input.png"))


@pytest.mark.parametrize("index", [0, 1, 2])
def test_every_playground_example_loads_and_runs(page, index):
    tab(page, "Playground")
    example = page.locator(f"[data-testid=dataset-cell-{index}-1]").first
    expected_a = ["A man is playing a guitar.", "How do I learn Python quickly?", "A gorgeous, witty"][index]
    example.click()
    page.wait_for_function(
        f"document.querySelector('#sentence-a textarea').value.startsWith({expected_a!r})", timeout=30_000
    )
    page.click("#run")
    page.wait_for_selector("#heatmap .js-plotly-plot", timeout=60_000)
    page.wait_for_function("document.querySelector('#note').innerText.trim().length > 0", timeout=30_000)
    label = ["similarity", "paraphrase", "sentiment"][index]
    page.wait_for_function(f"/{label}( \\(|:)/.test(document.querySelector('#heatmap').innerText)", timeout=30_000)


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
    page.locator("#compare-head input").fill("5")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "[...document.querySelectorAll('.js-plotly-plot')].filter(p => p.innerText.includes('head 5')).length >= 2",
        timeout=30_000,
    )
    page.screenshot(path=str(SHOTS / "3-compare.png"), full_page=True)


def test_hard_case_opens_in_playground(page):
    tab(page, "Hard cases")
    page.wait_for_selector("text=STS: high overlap", timeout=30_000)
    first_sentence = page.locator(".hard-case-table [data-testid=cell-0-0]").first
    text = first_sentence.inner_text().strip()
    titles = page.evaluate("[...document.querySelectorAll('.hard-case-table th')].map(t => t.title).filter(t => t)")
    assert {"multi-cross", "single-cross"} <= set(titles)  # short headers, full names on hover
    headers = page.locator(".hard-case-table").first.locator("th").all_inner_texts()
    assert "scr" in [h.strip() for h in headers]
    assert page.locator(".hard-case-table").first.inner_text().count("2.50") >= 3  # two decimals
    page.screenshot(path=str(SHOTS / "4-hard-cases.png"), full_page=True)
    first_sentence.click()
    page.wait_for_function(
        f"document.querySelector('#sentence-a textarea').value.startsWith({text[:20]!r})", timeout=30_000
    )
    assert page.get_by_role("tab", name="Playground").get_attribute("aria-selected") == "true"


def test_explorer_filters_slices_and_opens_a_row_in_the_playground(page):
    tab(page, "Explorer")
    page.fill("#explorer-word textarea, #explorer-word input", "man")
    page.click("#explorer-run")
    page.wait_for_selector("#explorer-slices .js-plotly-plot", timeout=60_000)
    summary = page.locator("#explorer-summary").inner_text()
    assert " of " in summary and "match" in summary
    assert "man" in page.locator("#explorer-table").inner_text().lower()
    page.screenshot(path=str(SHOTS / "5-explorer.png"), full_page=True)
    first = page.locator("#explorer-table [data-testid=cell-0-0]").first
    text = first.inner_text().strip()
    first.click()
    page.wait_for_function(
        f"document.querySelector('#sentence-a textarea').value.startsWith({text[:20]!r})", timeout=30_000
    )
    playground = page.get_by_role("tab", name="Playground")
    deadline = time.time() + 10  # the tab switch may render a moment after the sentence
    while playground.get_attribute("aria-selected") != "true" and time.time() < deadline:
        page.wait_for_timeout(100)
    assert playground.get_attribute("aria-selected") == "true"
    # sortable: the error column's menu sorts it (the table opens with the largest errors first)
    tab(page, "Explorer")
    page.locator("#explorer-table [data-testid=header-4]").hover()
    page.locator("#explorer-table [data-testid=header-4] .cell-menu-button").click(force=True)
    page.get_by_text("Sort ascending").first.click()
    page.wait_for_timeout(500)
    assert page.locator("#explorer-table [data-testid=header-4] [aria-label='Sorted ascending']").count() == 1


def test_embedding_map_draws_the_dev_set_with_the_users_input(page):
    tab(page, "Embedding map")
    page.fill("#map-a textarea, #map-a input", "A man is playing a guitar.")
    page.fill("#map-b textarea, #map-b input", "A man plays music.")
    page.click("#map-run")
    page.wait_for_selector("#map-plot .js-plotly-plot", timeout=120_000)
    page.wait_for_function("document.querySelector('#map-note').innerText.includes('star')", timeout=30_000)
    assert "coloured by gold" in page.locator("#map-plot").inner_text()
    page.screenshot(path=str(SHOTS / "6-embedding-map.png"), full_page=True)


def test_a_link_opens_the_same_playground_view(page, app_server):
    page.goto(f"{app_server}?task=paraphrase&variant=single-cross&a=How+to+cook+rice%3F&b=How+do+I+cook+rice%3F")
    page.wait_for_selector("#run", timeout=60_000)
    page.wait_for_function(
        "document.querySelector('#sentence-b textarea').value === 'How do I cook rice?'", timeout=30_000
    )
    assert page.locator("#sentence-a textarea").input_value() == "How to cook rice?"
    assert "single-cross" in page.locator("#variant input").input_value()
    page.fill("#sentence-a textarea", "How can I cook rice?")
    page.click("#run")
    page.wait_for_function("window.location.search.includes('How+can+I+cook+rice')", timeout=30_000)
    assert "task=paraphrase" in page.evaluate("window.location.search")
    page.wait_for_selector("#loo .textfield", timeout=60_000)


def test_results_chart_and_confusion(page):
    tab(page, "Results")
    page.wait_for_selector("#results-chart .js-plotly-plot", timeout=30_000)
    assert "multi-cross" in page.locator("#results-table").inner_text()
    page.wait_for_selector("text=SST dev", timeout=30_000)
    assert page.locator(".modebar-btn[data-title='Download plot as a PNG']").count() >= 1  # every plot: PNG
    download = page.locator("#results-tab-download")
    with page.expect_download() as info:
        download.click()
    assert info.value.suggested_filename == "results.csv"
    page.screenshot(path=str(SHOTS / "7-results.png"), full_page=True)


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
    page.screenshot(path=str(SHOTS / "8-batch.png"), full_page=True)


def test_the_users_model_is_marked_in_the_picker_and_runs_in_the_playground(page):
    tab(page, "Playground")
    page.click("#variant input")
    mine = page.get_by_role("option", name=re.compile(rf"^yours · {BACKBONE} . my-run"))  # no "/": it ends the regex
    assert mine.count() == 1 and page.get_by_role("option", name=re.compile(r"^yours · .*multi-cross")).count() == 0
    mine.click()
    page.get_by_label("similarity").first.check()
    page.fill("#sentence-a textarea", "A man is playing a guitar.")
    page.fill("#sentence-b textarea", "A man plays an instrument.")
    page.click("#run")
    page.wait_for_function("window.location.search.includes('variant=my-run')", timeout=60_000)
    # the whole chain ran on this input: the saliency and leave-one-out of the earlier runs are replaced
    for panel in ("#saliency", "#loo"):
        page.wait_for_function(f"document.querySelector('{panel}').innerText.includes('guitar')", timeout=60_000)
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('B·instrument')", timeout=30_000)
    assert "my-run" in page.locator("#variant input").input_value()
    page.screenshot(path=str(SHOTS / "9-your-model.png"), full_page=True)


def _task(page, name: str) -> None:
    """Check the task radio ``name`` of the tab on show (every tab has its own)."""
    page.get_by_role("radio", name=name, exact=True).locator("visible=true").first.check()


def _pick(page, selector: str, name: str) -> None:
    """Pick the option whose label matches ``name`` in the dropdown at ``selector``."""
    page.click(f"{selector} input")
    page.get_by_role("option", name=re.compile(name)).first.click()


@pytest.mark.parametrize("name", ["tiny-run", "my-hf-paraphrase"])
def test_a_trained_run_and_a_hugging_face_model_work_in_every_tab(page, name):
    """Both come in through --models: marked as the user's in the pickers, and the Playground, Compare, the Explorer
    and the map run on them; Results lists their dev metrics (computed at start, with a progress bar)."""
    pair = ("How do I learn to cook?", "How can I learn cooking?")
    tab(page, "Playground")
    page.click("#variant input")
    mine = page.get_by_role("option", name=re.compile(rf"^yours · .*{name}"))
    assert mine.count() == 1
    mine.click()
    page.get_by_label("paraphrase").first.check()
    page.fill("#sentence-a textarea", pair[0])
    page.fill("#sentence-b textarea", pair[1])
    page.click("#run")
    page.wait_for_function(f"window.location.search.includes('variant={name}')", timeout=60_000)
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('B·cooking')", timeout=60_000)
    page.wait_for_function("document.querySelector('#saliency').innerText.includes('cook')", timeout=60_000)

    tab(page, "Compare")
    _task(page, "paraphrase")
    box = page.locator("#compare-variants")
    for label in box.locator("label").all():
        if label.locator("input").is_checked():
            label.click()
    box.get_by_text(re.compile(rf"^yours · .*{name}")).click()
    box.get_by_text(re.compile(rf"^{BACKBONE} . multi-cross")).click()
    page.fill("#compare-a textarea", pair[0])
    page.fill("#compare-b textarea", pair[1])
    page.click("#compare-run")
    page.wait_for_function(f"document.querySelector('#compare-table').innerText.includes('{name}')", timeout=60_000)
    page.wait_for_function(
        f"[...document.querySelectorAll('.js-plotly-plot')].filter(p => p.innerText.includes('{name}')).length >= 1",
        timeout=30_000,
    )

    tab(page, "Explorer")
    _task(page, "paraphrase")
    page.wait_for_function(
        "document.querySelector('#explorer-summary').innerText.includes('Quora dev')", timeout=60_000
    )
    _pick(page, "#explorer-variant", rf"^{name}$")
    page.click("#explorer-run")
    page.wait_for_function(
        "document.querySelector('#explorer-slices').innerText.includes('" + name + " on Quora dev')", timeout=60_000
    )

    tab(page, "Embedding map")
    _task(page, "paraphrase")
    page.wait_for_timeout(500)
    _pick(page, "#map-variant", rf"^{name}$")
    page.click("#map-run")
    page.wait_for_function(
        f"document.querySelector('#map-plot').innerText.includes('{name} on Quora dev')", timeout=120_000
    )
    page.screenshot(path=str(SHOTS / f"10-{name}-map.png"), full_page=True)

    tab(page, "Results")
    page.wait_for_selector("#results-chart .js-plotly-plot", timeout=30_000)
    cells = [c.strip() for c in page.locator("#results-table").inner_text().splitlines() if c.strip()]
    at = cells.index(name)  # the row's cells follow its name: where it comes from, then its dev metrics
    assert cells[at + 1] == "yours" and float(cells[at + 2]) == float(cells[at + 2])


def test_an_uploaded_csv_of_1000_pairs_is_explored_with_slices_disagreement_and_the_bootstrap(page, tmp_path):
    import pandas as pd

    from mtbert.data import read_examples

    examples = read_examples(REPO / "assets" / "data" / "quora-dev.csv", "paraphrase")[:1000]
    path = tmp_path / "my questions.csv"
    pd.DataFrame(
        {
            "question1": [e.a for e in examples],
            "question2": [e.b for e in examples],
            "is_duplicate": [int(e.label) for e in examples],
        }
    ).to_csv(path, index=False)
    tab(page, "Explorer")
    page.fill("#explorer-word textarea, #explorer-word input", "")  # an earlier test may have left a filter
    page.get_by_text("Add your own dataset").click()
    page.set_input_files("#explorer-upload input[type=file]", str(path))
    page.wait_for_function(
        "document.querySelector('#explorer-upload-note').innerText.includes('1,000 rows')", timeout=30_000
    )
    assert (
        page.locator("#explorer-upload-name textarea, #explorer-upload-name input").first.input_value()
        == "my questions"
    )
    page.click("#explorer-upload-add")
    page.wait_for_function(
        "document.querySelector('#explorer-summary').innerText.includes('of 1,000 rows of my questions')",
        timeout=120_000,
    )
    assert "1,000 paraphrase rows" in page.locator("#explorer-upload-note").inner_text()
    _pick(page, "#explorer-variant", r"^tiny-run$")  # the user's tiny models: 1,000 pairs in a moment
    _pick(page, "#explorer-other", r"^my-hf-paraphrase$")
    page.click("#explorer-run")
    page.wait_for_function(
        "document.querySelector('#explorer-significance').innerText.includes('paired bootstrap')", timeout=120_000
    )
    text = page.locator("#explorer-significance").inner_text()
    assert "On these 1,000 rows, tiny-run" in text and "tiny-run is ahead in" in text and "95% interval" in text
    page.wait_for_selector("#explorer-slices .js-plotly-plot", timeout=30_000)
    summary = page.locator("#explorer-summary").inner_text()
    disagree = int(re.search(r"disagree on ([0-9,]+) of all 1,000", summary).group(1).replace(",", ""))
    page.get_by_label("Only rows where the two variants disagree").check()
    page.click("#explorer-run")
    page.wait_for_function(
        f"document.querySelector('#explorer-summary').innerText.startsWith('{disagree:,} of 1,000 rows')",
        timeout=60_000,
    )
    page.screenshot(path=str(SHOTS / "11-your-dataset.png"), full_page=True)

    unlabelled = tmp_path / "no labels.jsonl"
    pd.read_csv(path).drop(columns="is_duplicate").head(50).to_json(unlabelled, orient="records", lines=True)
    _upload(page, unlabelled, "50 rows", "rows of no labels")
    page.screenshot(path=str(SHOTS / "12-unlabelled.png"), full_page=True)
    assert "no labels: predictions only" in page.locator("#explorer-note").inner_text()
    assert "predicted" in page.locator("#explorer-table").inner_text()


def _upload(page, path: Path, read: str, explored: str) -> None:
    """Upload ``path`` in the Explorer's open upload panel (clearing an earlier file), wait for its note to say
    ``read``, add it, and wait for the Explorer's summary to say ``explored``."""
    clear = page.locator("#explorer-upload button[aria-label='Clear']")
    if clear.count():
        clear.click()
    page.set_input_files("#explorer-upload input[type=file]", str(path))
    page.wait_for_function(
        f"document.querySelector('#explorer-upload-note').innerText.includes('{read}')", timeout=30_000
    )
    page.click("#explorer-upload-add")
    page.wait_for_function(
        f"document.querySelector('#explorer-summary').innerText.includes('{explored}')", timeout=120_000
    )


def _curve_points(page) -> int:
    """The most points of any trace in the Train tab's curves."""
    return page.evaluate(
        "(() => { const p = document.querySelector('#train-curves .js-plotly-plot');"
        " return p && p.data ? Math.max(0, ...p.data.map(t => (t.x || []).length)) : 0; })()"
    )


def _progress(page) -> str:
    return page.locator("#train-progress").inner_text()


def _wait_for_progress(page, text: str, seconds: float) -> None:
    """Wait until the Train tab's progress line says ``text``; a timeout says what it said instead."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(
            f"document.querySelector('#train-progress').innerText.includes({text!r})", timeout=seconds * 1000
        )
    except PlaywrightTimeout:
        page.screenshot(path=str(SHOTS / "train-timeout.png"), full_page=True)
        raise AssertionError(f"after {seconds} s the progress says {_progress(page)!r}, not {text!r}") from None


def _reload(page) -> None:
    """Reload the page. Leaving it cancels its requests in flight (a poll, the rest of an earlier Run's stream): the
    browser reports those aborts, and only those are dropped."""
    before = len(page.console_errors)
    page.reload(wait_until="load")
    page.wait_for_selector("#run", timeout=60_000)
    during = page.console_errors[before:]
    del page.console_errors[before:]
    page.console_errors += [e for e in during if not ("AbortError" in e or "errored out" in e)]


def test_a_run_started_in_the_train_tab_is_watched_stopped_resumed_and_becomes_a_model(page):
    tab(page, "Train")
    _pick(page, "#train-preset", r"^tiny$")
    page.get_by_text("Settings: Data and distillation").click()
    page.wait_for_function(
        "document.querySelector('#train-field-train_limit input')?.value === '240'", timeout=10_000
    )  # the form holds the preset's settings
    page.fill("#train-name textarea, #train-name input", "browser-run")
    page.click("#train-start")
    page.wait_for_function("document.querySelector('#train-message').innerText.includes('browser-run')", timeout=30_000)
    # The curve grows while the run is running: two points or more before it ends.
    page.wait_for_function(
        "document.querySelector('#train-progress').innerText.includes('running')"
        " && document.querySelector('#train-progress').innerText.includes('step')",
        timeout=120_000,
    )
    deadline = time.time() + 60
    while _curve_points(page) < 2 and time.time() < deadline:
        page.wait_for_timeout(200)
    assert _curve_points(page) >= 2 and "running" in _progress(page), _progress(page)
    page.click("#train-stop")
    _wait_for_progress(page, "stopped: Resume continues it", 60)
    stopped_at = int(re.search(r"step ([0-9,]+) of", _progress(page)).group(1).replace(",", ""))
    page.click("#train-resume")
    _reload(page)  # the run goes on in its process; the reloaded tab finds it again
    tab(page, "Train")
    page.wait_for_function(
        "document.querySelector('#train-progress').innerText.includes('browser-run')", timeout=30_000
    )
    page.wait_for_function(
        "/running|finished/.test(document.querySelector('#train-progress').innerText)", timeout=60_000
    )
    deadline = time.time() + 30
    while _curve_points(page) < 2 and time.time() < deadline:  # the reattached tab draws the run's curves too
        page.wait_for_timeout(200)
    assert _curve_points(page) >= 2, _progress(page)
    page.screenshot(path=str(SHOTS / "13-train-running.png"), full_page=True)  # the resumed run, reattached
    page.wait_for_function("document.querySelector('#train-progress').innerText.includes('finished')", timeout=180_000)
    total = int(re.search(r"of ([0-9,]+)", _progress(page)).group(1).replace(",", ""))
    assert 0 < stopped_at < total
    assert "finished" in page.locator("#train-jobs").inner_text()
    page.screenshot(path=str(SHOTS / "14-train-finished.png"), full_page=True)
    _reload(page)  # nothing runs now, so the page does not poll: its load shows the runs as they are
    tab(page, "Train")
    page.wait_for_function(
        "document.querySelector('#train-jobs').innerText.includes('browser-run')"
        " && document.querySelector('#train-progress').innerText.includes('browser-run: finished')",
        timeout=30_000,
    )

    tab(page, "Playground")
    page.click("#variant input")
    mine = page.get_by_role("option", name=re.compile(r"^yours · .*browser-run"))
    mine.first.wait_for(timeout=10_000)  # opening the picker re-reads the models (the page loaded before the run ended)
    assert mine.count() == 1
    mine.click()
    page.get_by_label("similarity").first.check()
    page.fill("#sentence-a textarea", "A cat sits on the mat.")
    page.fill("#sentence-b textarea", "A cat is sitting on a rug.")
    page.click("#run")
    page.wait_for_function("window.location.search.includes('variant=browser-run')", timeout=60_000)
    page.wait_for_function("document.querySelector('#heatmap').innerText.includes('B·rug')", timeout=60_000)


def test_a_run_on_an_uploaded_csv_is_scored_on_its_held_out_split_in_results(page, tmp_path):
    import pandas as pd

    from mtbert.data import read_examples

    examples = read_examples(REPO / "assets" / "data" / "sts-dev.csv", "similarity")[:300]
    path = tmp_path / "my pairs.csv"
    columns = {"sentence1": [e.a for e in examples], "sentence2": [e.b for e in examples]}
    pd.DataFrame(columns | {"score": [e.label for e in examples]}).to_csv(path, index=False)
    tab(page, "Explorer")
    if not page.locator("#explorer-upload").is_visible():  # an earlier test may have opened it
        page.get_by_text("Add your own dataset").click()
    _upload(page, path, "300 rows", "my pairs")

    tab(page, "Train")
    _pick(page, "#train-preset", r"^tiny$")
    _pick(page, "#train-data", r"^my pairs$")
    page.fill("#train-field-epochs input", "1")  # an edit of the preset: one epoch is enough here
    page.fill("#train-name textarea, #train-name input", "csv-run")
    page.click("#train-start")
    page.wait_for_function("document.querySelector('#train-message').innerText.includes('csv-run')", timeout=30_000)
    _pick(page, "#train-run", r"^csv-run$")
    page.wait_for_function(
        "document.querySelector('#train-progress').innerText.includes('csv-run: finished')", timeout=180_000
    )

    tab(page, "Results")
    page.wait_for_timeout(1000)
    _pick(page, "#results-variant", r"csv-run")
    _pick(page, "#results-dataset", r"^my pairs held-out$")
    page.wait_for_function(
        "document.querySelector('#results-note').innerText.includes('csv-run on my pairs held-out (60 rows)')",
        timeout=60_000,
    )
    assert "Pearson" in page.locator("#results-note").inner_text()


def test_the_runs_tab_draws_two_shipped_variants_and_the_trained_run(page):
    tab(page, "Runs")
    picker = page.locator("#runs-picker")
    # It opens on the first two runs with logs: the two shipped variants' (one with steps, one epochs only).
    page.wait_for_function(
        "['multi-cross', 'single-cross'].every(n => document.querySelector('#runs-picker').innerText.includes(n))",
        timeout=30_000,
    )
    # Nothing runs and only shipped (finished) runs are picked: the page sends nothing while it is looked at.
    sent = len(page.requests)
    page.wait_for_timeout(2500)  # longer than a Runs refresh and two Train polls
    assert not [u for u in page.requests[sent:] if "/queue/" in u or "/run/" in u], page.requests[sent:]
    picker.locator("input").click()  # opening the picker re-reads the runs: the one the Train tab finished is there
    page.wait_for_timeout(1500)  # the choices are re-drawn once
    page.get_by_role("option", name=re.compile(r"^browser-run$")).first.click()
    page.keyboard.press("Escape")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(SHOTS / "15-runs.png"), full_page=True)
    page.wait_for_function(
        "(() => { const p = document.querySelector('#runs-plot .js-plotly-plot');"
        " return p && ['multi-cross', 'single-cross', 'browser-run'].every(n => p.data.some(t => t.name === n)); })()",
        timeout=60_000,
    )
    note = page.locator("#runs-note").inner_text()
    assert "single-cross: only one line per epoch survives" in note
    page.locator("#runs-x").get_by_label("epochs").check()
    page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / "15-runs.png"), full_page=True)


@pytest.fixture
def training_off(app_assets, tmp_path, capfd):
    """The app on the test assets with training off, as ``python app.py`` builds it, served from this process (a
    traceback it prints fails the test); yields its URL."""
    from mtbert.app.store import VariantStore
    from tests.app.serve import served

    with served(VariantStore(app_assets, tmp_path / "no-data-folder")) as url:
        yield url
    printed = capfd.readouterr()
    assert "Traceback" not in printed.out + printed.err, printed.err[-3000:]


def test_with_training_off_the_train_tab_says_how_to_turn_it_on_and_the_api_refuses(page, training_off):
    from gradio_client import Client

    errors: list[str] = []
    other = page.context.browser.new_page(viewport={"width": 1280, "height": 900})  # the server started without it
    other.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    other.goto(training_off, wait_until="load")
    other.wait_for_selector("#run", timeout=60_000)
    tab(other, "Train")
    other.wait_for_selector("#train-off", timeout=10_000)
    assert "python app.py --allow-training" in other.locator("#train-off").inner_text()
    assert other.locator("#train-start").count() == 0
    other.screenshot(path=str(SHOTS / "16-train-off.png"), full_page=True)
    other.close()
    assert errors == []
    with pytest.raises(Exception, match="training is off"):
        Client(training_off, verbose=False).predict("tiny", {}, api_name="/start_training")


def test_broken_variant_is_listed_and_nothing_is_fetched_from_outside(page):
    assert "broken-variant" in page.locator("#broken-variants").inner_text()
    assert page.outside_requests == []
