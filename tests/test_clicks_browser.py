"""Impressions, clicks and variants end to end: a real `recsys serve` (uvicorn on 127.0.0.1, its own
SQLite file) and the widget in a real headless Chromium on a publisher's page of another origin.

The widget assigns the reader a variant from its session-only visitor key (as the library does),
reports one impression once the block is in view, and reports the click on a link as the page
unloads for the link's target. The service checks and stores both, rolls them up on its own, and
answers GET /v1/stats; `recsys report` reads the same file; /stats draws the plots (screenshot).
"""

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from recsys.feedback import FeedbackStore, Variants
from test_browser import CHROMIUM, FLAGS, SKIP_REASON, sync_playwright, wait_until_ready
from test_serve import free_port

if SKIP_REASON:
    pytestmark = pytest.mark.skip(reason=SKIP_REASON)

ADMIN_TOKEN = "admin-token-browser-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
PUBLISHER = "http://publisher.test"
VARIANTS = {"control": {}, "fresh": {"freshness_weight": 2.0, "popularity_weight": 0.0}}
LOOPBACK_FROM_PUBLIC = ("--disable-features=BlockInsecurePrivateNetworkRequests,PrivateNetworkAccessSendPreflights,"
                        "LocalNetworkAccessChecks")
DOCS_SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "stats.png"


@pytest.fixture(scope="module")
def service(sample_index, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("clicks")
    index_dir = sample_index.save(workdir / "news")
    events = workdir / "events.sqlite3"
    port = free_port()
    env = {**os.environ, "RECSYS_ADMIN_TOKEN": ADMIN_TOKEN, "RECSYS_WIDGET_CLICKS": "true",
           "RECSYS_VARIANTS": json.dumps(VARIANTS), "RECSYS_CORS_ORIGINS": json.dumps([PUBLISHER]),
           "RECSYS_ROLLUP_SECONDS": "0.5"}
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "recsys", "serve", str(index_dir), "--port", str(port),
                                    "--events-db", str(events)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base, log)
    yield base, events
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


@pytest.fixture(scope="module")  # one browser per file: every test opens its own context
def browser():
    with sync_playwright() as playwright:
        # The publisher's page has a public-looking origin and the service listens on 127.0.0.1, which
        # Chromium's private network access rules block (a real service is public): let it through.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, LOOPBACK_FROM_PUBLIC])
        yield browser
        browser.close()


def story_page(base: str, article_id: str) -> str:
    """A publisher's article page: the block below the fold, the widget with reports on."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>story</title>
<link rel="icon" href="data:,"></head><body><h1>A story</h1><div style="height: 2400px">text</div>
<div id="block" data-recsys-related="{article_id}"></div>
<script src="{base}/widget.js" async data-k="5" data-track="true"></script></body></html>"""


def wait_for(page, condition, what: str, seconds: float = 10):
    """Poll ``condition`` until it holds; the page's waits let Playwright deliver its events meanwhile."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)
    return value


def stats(base):
    return {row["variant"]: row for row in httpx.get(f"{base}/v1/stats", headers=ADMIN).json()["variants"]}


def rolled_up(events, variant) -> tuple[int, int]:
    """(impressions, clicks) of ``variant`` in the service's hourly roll-up, read with plain SQL."""
    with sqlite3.connect(events) as db:
        row = db.execute("SELECT COALESCE(SUM(impressions), 0), COALESCE(SUM(clicks), 0) "
                         "FROM feedback_variants_hourly WHERE variant = ?", (variant,)).fetchone()
    return tuple(row)


def visitor_of(variant: str) -> str:
    """A visitor key that the variants assign to ``variant`` (found by the library's own assignment)."""
    variants = Variants.parse(VARIANTS)
    return next(key for n in range(1000) if variants.assign(key := f"{n:032x}").name == variant)


@pytest.mark.parametrize("variant", ["fresh", "control"])
def test_impression_click_rollup_stats_and_report(service, browser, variant, tmp_path):
    base, events = service
    before = stats(base)[variant]
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    context.add_cookies([{"name": "reader", "value": "s3cret", "url": base},
                         {"name": "reader", "value": "s3cret", "url": PUBLISHER}])
    key = visitor_of(variant)
    context.add_init_script(f"window.sessionStorage.setItem('recsys-visitor', '{key}');")
    requests, errors = [], []
    context.on("request", lambda request: requests.append(request))
    context.route(f"{PUBLISHER}/story", lambda route: route.fulfill(status=200, content_type="text/html",
                                                                    body=story_page(base, "a-012")))
    context.route("https://news.example.com/**", lambda route: route.fulfill(
        status=200, content_type="text/html", body="<!doctype html><title>target</title><p>the linked story</p>"))
    page = context.new_page()
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.goto(f"{PUBLISHER}/story")
    page.wait_for_selector("#block .recsys-related__link", state="attached")

    related = [r for r in requests if "/related?" in r.url]
    assert len(related) == 1 and f"variant={variant}" in related[0].url  # the library's assignment, in the browser
    expected = httpx.get(f"{base}/v1/articles/a-012/related", params={"k": 5, "fallback": "true",
                                                                      "variant": variant}).json()
    assert expected["variant"] == variant
    ids = [hit["id"] for hit in expected["results"]]
    assert page.locator("#block .recsys-related__link").all_inner_texts() == [h["title"] for h in expected["results"]]

    page.wait_for_timeout(700)  # below the fold: not seen, no impression
    assert not [r for r in requests if r.url.endswith("/v1/widget/impressions")]
    page.locator("#block").scroll_into_view_if_needed()
    # the service rolls the rows up by itself (RECSYS_ROLLUP_SECONDS): no stats call until they show there
    wait_for(page, lambda: rolled_up(events, variant)[0] == before["impressions"] + 1, "the impression, rolled up")
    impression = next(r for r in requests if r.url.endswith("/v1/widget/impressions"))
    sent = json.loads(impression.post_data)
    assert sent["ids"] == ids and sent["article_id"] == "a-012" and sent["variant"] == variant
    assert len(sent["impression_id"]) == 32

    target = page.locator("#block .recsys-related__link").nth(1)
    href = target.get_attribute("href")
    target.click()
    page.wait_for_url(href)  # the click unloaded the story; its report still arrives
    wait_for(page, lambda: rolled_up(events, variant)[1] == before["clicks"] + 1, "the click, rolled up")
    row = stats(base)[variant]
    assert (row["impressions"], row["clicks"]) == (before["impressions"] + 1, before["clicks"] + 1)
    click = next(r for r in requests if r.url.endswith("/v1/widget/clicks"))
    assert json.loads(click.post_data) == {"impression_id": sent["impression_id"], "article_id": "a-012",
                                           "target_id": ids[1], "position": 2, "variant": variant}
    for report in (impression, click):
        headers = report.all_headers()
        assert "cookie" not in headers and headers["origin"] == PUBLISHER
    assert click.all_headers()["content-type"].startswith("text/plain")
    second = next(p for p in row["by_position"] if p["position"] == 2)
    assert second["clicks"] >= 1
    assert errors == []

    printed = subprocess.run([sys.executable, "-m", "recsys", "report", str(events), "--json"], capture_output=True,
                             text=True, timeout=60, env={**os.environ, "RECSYS_VARIANTS": json.dumps(VARIANTS)})
    assert printed.returncode == 0, printed.stderr
    reported = {r["variant"]: r for r in json.loads(printed.stdout)["variants"]}
    assert (reported[variant]["impressions"], reported[variant]["clicks"]) == (row["impressions"], row["clicks"])
    context.close()


def test_the_stats_page_in_a_browser(service, browser, tmp_path):
    base, events = service
    store = FeedbackStore(events)  # two weeks of earlier traffic, so that the plots have something to show
    now = time.time()
    targets = ["a-003", "a-007", "a-031", "a-045", "a-054"]
    rates = {"control": (0.16, 0.09, 0.06, 0.04, 0.03), "fresh": (0.2, 0.11, 0.07, 0.05, 0.035)}
    n, rng = 0, random.Random(4)
    for hour in range(14 * 24, 0, -3):
        for variant, rate in rates.items():
            for visit in range(12):
                n += 1
                ts = now - hour * 3600 - visit * 60
                store.add_impression(f"imp-history-{n:012d}", "a-012", variant, targets, ts=ts)
                for position, p in enumerate(rate, start=1):
                    if rng.random() < p:
                        store.add_click(f"imp-history-{n:012d}", "a-012", targets[position - 1], position, variant,
                                        ts=ts + 20)
                        break
    store.close()

    refused = httpx.get(f"{base}/stats")  # the browser asks for the token with its login dialog
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Basic")
    context = browser.new_context(viewport={"width": 1000, "height": 900},
                                  http_credentials={"username": "editor", "password": ADMIN_TOKEN})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    response = page.goto(f"{base}/stats")
    assert response.status == 200
    rows = page.locator("#variants tbody tr")
    assert rows.count() == 2
    data = {r["variant"]: r for r in httpx.get(f"{base}/v1/stats", headers=ADMIN).json()["variants"]}
    for n in range(2):
        cells = rows.nth(n).locator("td").all_inner_texts()
        assert cells[1].replace(",", "") == str(data[cells[0]]["impressions"])
    assert page.locator("#ctr-over-time polyline").count() == 2
    assert page.locator("#ctr-by-position rect[data-position]").count() == 2 * 5
    style = page.evaluate("getComputedStyle(document.querySelector('th')).borderBottomStyle")
    assert style == "solid"  # the style sheet ran under the page's Content-Security-Policy
    assert errors == []  # no CSP violation, no script
    shot = tmp_path / "stats.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        DOCS_SCREENSHOT.write_bytes(shot.read_bytes())
    context.close()
