"""The widget and the demo page in a real headless Chromium (Debian's), driven by Playwright."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import pytest

from test_serve import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - .ci/run installs it
    sync_playwright = None

SKIP_REASON = None  # test_widget_security.py skips on the same condition
if sync_playwright is None or not os.path.exists(CHROMIUM):
    SKIP_REASON = "no headless browser here: needs Debian's chromium and the playwright package (.ci/run installs both)"
    print(f"\nSKIPPED browser tests: {SKIP_REASON}", file=sys.stderr)
    pytestmark = pytest.mark.skip(reason=SKIP_REASON)


def wait_until_ready(process: subprocess.Popen, base: str, log) -> None:
    """Wait for a server started in its own session to answer /ready; fail with its log if it
    died or did not answer in 120 s (generous: a shared CI machine can be slow)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:  # a server that died fails at once
        try:
            if httpx.get(f"{base}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    pytest.fail(f"the server did not start: {log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    port = free_port()
    fields = ["id", "title", "url", "section", "tags", "author", "published_at", "score", "views"]
    env = {**os.environ, "RECSYS_PUBLIC_FIELDS": json.dumps(fields)}  # so that a test can read the view count
    log = workdir / "server.log"  # a file, not a pipe: unread, a pipe fills up and blocks the server
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "recsys", "demo", "--port", str(port), "-o",
                                    str(workdir / "demo")], cwd=workdir, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_until_ready(process, base, log)
    yield base
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=10)


@pytest.fixture()
def page():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page()
        page.errors = []
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.on("console", lambda message: page.errors.append(message.text)
                if message.type == "error" and "Failed to load resource" not in message.text else None)
        yield page
        browser.close()


def test_demo_page_renders_each_related_list(demo_server, page, tmp_path):
    views_before = httpx.get(f"{demo_server}/v1/articles/a-001").json()["article"]["views"]
    page.goto(f"{demo_server}/")
    page.wait_for_selector("#a-012 .recsys-related__item")
    expected = httpx.get(f"{demo_server}/v1/articles/a-012/related", params={"k": 4}).json()["results"]
    block = page.locator("#a-012 [data-recsys-related]")
    assert block.locator(".recsys-related__link").all_inner_texts() == [hit["title"] for hit in expected]
    assert block.locator(".recsys-related__link").first.get_attribute("href") == expected[0]["url"]
    assert block.locator("time").first.get_attribute("datetime") == expected[0]["published_at"]
    assert block.locator("section[aria-labelledby] h2").inner_text() == "Related"
    page.wait_for_function("document.querySelectorAll('.recsys-related').length === 60", timeout=15_000)
    assert page.locator("[data-recsys-related]:visible").count() == 60
    page.screenshot(path=str(tmp_path / "demo.png"), full_page=False)
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    deadline = time.monotonic() + 10  # the page's first article reports one view
    while httpx.get(f"{demo_server}/v1/articles/a-001").json()["article"]["views"] != views_before + 1:
        assert time.monotonic() < deadline, "the widget did not report the view"
        time.sleep(0.1)
    assert page.errors == []


def test_widget_stays_hidden_without_errors_when_the_api_is_down(demo_server, page, tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    page.goto(f"{demo_server}/widget.js")  # any page of the service's origin
    page.set_content(f"""<html><body><p>story</p><div id="block" data-recsys-related="a-001"></div>
        <script src="{demo_server}/widget.js" data-api="{down}"></script></body></html>""")
    page.wait_for_timeout(1500)
    assert page.locator("#block").is_hidden() and page.locator(".recsys-related").count() == 0
    page.screenshot(path=str(tmp_path / "down.png"))
    assert page.errors == []
