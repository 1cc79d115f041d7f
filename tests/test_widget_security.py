"""The widget against a hostile related-list answer, in a real headless Chromium.

Nothing here touches the network: a publisher page (http://publisher.test), the widget script (the
package's own widget.js, the file that GET /widget.js serves) and the recsys API (http://recsys.test)
are all answered by Playwright routes, so the widget runs on a foreign origin exactly as it does on a
publisher's site, and any request the tests did not expect is recorded and fails the test.
"""

import json
from importlib import resources
from urllib.parse import urlsplit

import pytest

from test_browser import CHROMIUM, FLAGS, SKIP_REASON, sync_playwright

if SKIP_REASON:
    pytestmark = pytest.mark.skip(reason=SKIP_REASON)

PUBLISHER = "http://publisher.test"
RECSYS = "http://recsys.test"
WIDGET = (resources.files("recsys.server") / "static" / "widget.js").read_text(encoding="utf-8")
CORS = {"Access-Control-Allow-Origin": "*"}

PWN_IMG = '<img src=x onerror="window.__pwned=1">'
PWN_SCRIPT = "<script>window.__pwned=1</script>"
BAD_URLS = ["javascript:alert(document.cookie)", " javascript:alert(document.cookie)",
            "\tjavascript:alert(document.cookie)", "\njavascript:alert(document.cookie)",
            "\u0000javascript:alert(document.cookie)", "java\tscript:alert(document.cookie)",
            "java\nscript:alert(document.cookie)", "JaVaScRiPt:alert(document.cookie)",
            "JAVASCRIPT:void(window.__pwned=1)", "data:text/html,<script>alert(document.cookie)</script>",
            "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)",
            "VBScript:msgbox(1)", "file:///etc/passwd", "blob:http://publisher.test/x", "about:blank",
            "mailto:x@example.com", "http://[", "", None]
GOOD = {"id": "good", "score": 1.0, "title": "A good story", "url": "https://news.example/good",
        "published_at": "2024-05-01T10:00:00+00:00"}
HOSTILE = [
    *({"id": f"bad-{i}", "score": 0.5, "title": f"bad url {i}", "url": url} for i, url in enumerate(BAD_URLS)),
    {"id": "img", "score": 0.4, "title": PWN_IMG, "url": "https://news.example/img",
     "published_at": PWN_IMG},
    {"id": "script", "score": 0.3, "title": PWN_SCRIPT, "url": "http://news.example/script"},
    GOOD,
]
CLICK_GUARD = """document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a");
    if (link && link.protocol !== "javascript:") event.preventDefault();
}, true);"""  # clicks stay on the page, but a javascript: link, if the widget made one, runs as it would


def story(blocks, events_url=None):
    """A publisher's article page: its blocks, then the widget's script tag."""
    events = f' data-events-url="{events_url}"' if events_url else ""
    divs = "".join(f'<div id="{b}" data-recsys-related="{b}"></div>' for b in blocks)
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>story</title>
<link rel="icon" href="data:,"></head><body><p>A story.</p>{divs}
<script src="{RECSYS}/widget.js" async{events}></script></body></html>"""


@pytest.fixture(scope="module")  # one browser per file: every test opens its own context
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture()
def site(browser):
    """A page whose every request is answered here. ``site.answers[article_id]`` is the JSON that
    the related route returns; ``site.views`` collects the view reports; anything else lands in
    ``site.unexpected``. Dialogs, page errors and console errors are all recorded."""
    context = browser.new_context()
    context.add_cookies([{"name": "reader", "value": "s3cret", "url": RECSYS},
                         {"name": "reader", "value": "s3cret", "url": PUBLISHER}])
    page = context.new_page()
    page.answers, page.views, page.unexpected, page.pages = {}, [], [], {}
    page.dialogs, page.errors = [], []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)

    def unexpected(route):  # the <img> of a hostile title, a link followed, a stray fetch: none should happen
        page.unexpected.append(f"{route.request.method} {route.request.url}")
        route.fulfill(status=204, headers=CORS)

    def related(route):
        article_id = urlsplit(route.request.url).path.split("/")[3]
        route.fulfill(status=200, content_type="application/json", headers=CORS,
                      body=json.dumps(page.answers.get(article_id, {"ok": True, "results": []})))

    def view(route):
        page.views.append(route.request)
        route.fulfill(status=200, content_type="application/json", headers=CORS,
                      body=json.dumps({"ok": True, "accepted": 1, "duplicates": 0}))

    context.route("**/*", unexpected)  # the routes added later take precedence
    context.route("**/story", lambda route: route.fulfill(status=200, content_type="text/html",
                                                          body=page.pages[route.request.url]))
    context.route(f"{RECSYS}/widget.js", lambda route: route.fulfill(
        status=200, content_type="application/javascript", headers=CORS, body=WIDGET))
    context.route("**/v1/articles/*/related*", related)
    context.route(f"{RECSYS}/v1/widget/views", view)

    def open_story(blocks, origin=PUBLISHER, events_url=None):
        page.pages[f"{origin}/story"] = story(blocks, events_url)
        page.goto(f"{origin}/story")

    page.open_story = open_story
    yield page
    context.close()


def block_dom(page, selector):
    """Every element under the block: its tag, attributes and text."""
    return page.eval_on_selector(selector, """block => Array.prototype.map.call(block.querySelectorAll("*"),
        node => ({tag: node.tagName.toLowerCase(), text: node.textContent,
                  attrs: Object.fromEntries(Array.prototype.map.call(node.attributes, a => [a.name, a.value])),
                  href: node.href === undefined ? null : String(node.href),
                  protocol: node.protocol === undefined ? null : node.protocol}))""")


def test_hostile_urls_and_titles_never_run(site):
    site.answers["a-001"] = {"ok": True, "article_id": "a-001", "results": HOSTILE}
    site.open_story(["a-001"])
    site.wait_for_selector("#a-001 .recsys-related")
    site.wait_for_timeout(300)  # an injected <img onerror> would have fired by now
    nodes = block_dom(site, "#a-001")
    links = site.locator("#a-001 a.recsys-related__link")
    texts = links.evaluate_all("links => links.map(link => link.textContent)")
    site.evaluate(CLICK_GUARD)
    for entry in site.locator("#a-001 li > *").all():  # click every entry the widget rendered, however it did
        entry.click(timeout=2000)
    site.wait_for_timeout(300)

    assert site.dialogs == []  # nothing ran, on load or on click
    assert site.evaluate("typeof window.__pwned") == "undefined"
    assert site.errors == []
    assert site.unexpected == []
    assert site.url == f"{PUBLISHER}/story"

    assert {node["tag"] for node in nodes} <= {"section", "h2", "ol", "li", "a", "time"}
    assert not [n for n in nodes for name in n["attrs"] if name.startswith("on")]
    linked = [n for n in nodes if "href" in n["attrs"]]
    assert linked and all(n["protocol"] in ("http:", "https:") for n in linked), linked
    assert all(urlsplit(n["attrs"]["href"]).scheme in ("http", "https") for n in linked), linked
    assert not [text for text in texts if text.startswith("bad url")]  # a hit with a bad url is left out

    assert PWN_IMG in texts and PWN_SCRIPT in texts  # the titles are literal text, not markup
    good = links.filter(has_text="A good story")
    assert good.count() == 1 and good.get_attribute("href") == GOOD["url"]
    assert site.locator("#a-001 time").first.get_attribute("datetime") == PWN_IMG
    assert site.locator("#a-001 img, #a-001 script, #a-001 iframe, #a-001 object").count() == 0


def test_fields_of_the_wrong_type_render_what_is_valid_silently(site):
    site.answers["mixed"] = {"ok": True, "results": [
        None, "a string", 7, ["a", "list"],
        {"id": "n-1", "score": 1, "title": 123, "url": "https://news.example/n-1"},
        {"id": {"an": "object"}, "title": {"an": "object"}, "url": "https://news.example/object-title"},
        {"id": "u-1", "title": "url is a number", "url": 42},
        {"id": "u-2", "title": "url is an object", "url": {"href": "https://news.example/u-2"}},
        {"id": "u-3", "title": "url is a list", "url": ["https://news.example/u-3"]},
        {"id": "d-1", "title": "date is a number", "url": "/relative/d-1", "published_at": 20240501},
        {"id": "d-2", "title": "date is an object", "url": "https://news.example/d-2", "published_at": {}},
        {"id": "ok", "title": "fine", "url": "https://news.example/ok", "published_at": "2024-05-02"},
    ]}
    site.answers["junk"] = {"ok": True, "results": [None, 1, {"title": 5, "url": 7, "id": 9}]}
    site.answers["not-a-list"] = {"ok": True, "results": "abc"}
    site.answers["not-an-object"] = ["ok", True]
    site.open_story(["mixed", "junk", "not-a-list", "not-an-object"])
    site.wait_for_selector("#mixed .recsys-related")
    site.wait_for_timeout(500)

    links = site.locator("#mixed a.recsys-related__link")
    assert links.all_inner_texts() == ["n-1", "date is a number", "date is an object", "fine"]
    assert links.evaluate_all("links => links.map(link => link.href)") == [
        "https://news.example/n-1", f"{PUBLISHER}/relative/d-1", "https://news.example/d-2",
        "https://news.example/ok"]
    assert site.locator("#mixed time").evaluate_all("nodes => nodes.map(n => n.dateTime)") == ["2024-05-02"]
    for empty in ("#junk", "#not-a-list", "#not-an-object"):
        assert site.locator(empty).is_hidden() and site.locator(f"{empty} *").count() == 0
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []


@pytest.mark.parametrize("origin", [PUBLISHER, RECSYS], ids=["publisher-page", "same-origin-page"])
def test_view_report_sends_only_the_article_id(site, origin):
    site.add_init_script("""window.__fetches = [];
        var realFetch = window.fetch;
        window.fetch = function (url, init) {
            window.__fetches.push({url: String(url), init: init ? {method: init.method, keepalive: init.keepalive,
                                   credentials: init.credentials} : null});
            return realFetch.apply(this, arguments);
        };""")
    site.answers["a-001"] = {"ok": True, "results": [GOOD]}
    site.open_story(["a-001", "a-002"], origin=origin, events_url=f"{RECSYS}/v1/widget/views")
    site.wait_for_selector("#a-001 .recsys-related")
    site.wait_for_timeout(300)

    assert len(site.views) == 1
    report = site.views[0]
    headers = report.all_headers()
    assert report.method == "POST"
    assert json.loads(report.post_data) == {"article_id": "a-001"}
    assert headers["origin"] == origin
    assert headers["content-type"] == "application/json"
    assert "cookie" not in headers  # credentials: "omit", even when the page shares recsys's origin
    calls = [c for c in site.evaluate("window.__fetches") if c["url"] == f"{RECSYS}/v1/widget/views"]
    assert [c["init"] for c in calls] == [{"method": "POST", "keepalive": True, "credentials": "omit"}]
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []


def test_a_failing_view_report_is_silent(site):
    site.answers["a-001"] = {"ok": True, "results": [GOOD]}
    site.route(f"{RECSYS}/v1/widget/views", lambda route: route.abort("connectionrefused"))
    site.open_story(["a-001"], events_url=f"{RECSYS}/v1/widget/views")
    site.wait_for_selector("#a-001 .recsys-related")
    site.wait_for_timeout(300)
    assert site.locator("#a-001 a").get_attribute("href") == GOOD["url"]
    # Chromium itself logs the refused connection ("Failed to load resource"); the widget logs nothing
    assert [e for e in site.errors if "Failed to load resource" not in e] == []
    assert site.dialogs == [] and site.unexpected == []


def test_tracking_reports_what_was_shown_without_cookies(site):
    """With data-track, the widget asks for the variant its session key picks (as the library
    assigns it), reports once the ids it rendered (a hit it left out is not among them), and the
    block's first click as a keepalive request without credentials."""
    from recsys.feedback import Variants

    definition = {"control": {"share": 0.5}, "fresh": {"share": 0.5}}
    key = "0123456789abcdef0123456789abcdef"
    expected_variant = Variants.parse(definition).assign(key).name
    site.add_init_script(f"""window.sessionStorage.setItem("recsys-visitor", "{key}");
        window.__fetches = [];
        var realFetch = window.fetch;
        window.fetch = function (url, init) {{
            window.__fetches.push({{url: String(url), init: init ? {{method: init.method, keepalive: init.keepalive,
                                   credentials: init.credentials}} : null}});
            return realFetch.apply(this, arguments);
        }};""")
    reports, asked = [], []
    site.route(f"{RECSYS}/v1/variants", lambda route: route.fulfill(
        status=200, content_type="application/json", headers=CORS,
        body=json.dumps({"ok": True, "variants": Variants.parse(definition).public()})))

    def related(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", headers=CORS, body=json.dumps(
            {"ok": True, "variant": expected_variant, "results": [
                {"id": "bad", "title": "bad", "url": "javascript:alert(1)"}, GOOD,
                {"id": "second", "title": "Second", "url": "https://news.example/second"}]}))

    def report(route):
        reports.append(route.request)
        route.fulfill(status=200, content_type="application/json", headers=CORS,
                      body=json.dumps({"ok": True, "accepted": 1, "duplicates": 0}))

    site.route("**/v1/articles/*/related*", related)
    site.route(f"{RECSYS}/v1/widget/impressions", report)
    site.route(f"{RECSYS}/v1/widget/clicks", report)
    site.pages[f"{PUBLISHER}/story"] = story(["a-001"]).replace('async>', 'async data-track="true">')
    site.goto(f"{PUBLISHER}/story")
    site.wait_for_selector("#a-001 .recsys-related")
    site.wait_for_timeout(300)
    assert len(asked) == 1 and f"variant={expected_variant}" in asked[0]
    assert [r.url for r in reports] == [f"{RECSYS}/v1/widget/impressions"]
    impression = json.loads(reports[0].post_data)
    assert set(impression) == {"impression_id", "article_id", "ids", "variant"}
    assert impression["ids"] == ["good", "second"] and impression["variant"] == expected_variant
    assert impression["article_id"] == "a-001" and len(impression["impression_id"]) == 32

    site.evaluate(CLICK_GUARD)
    site.locator("#a-001 a", has_text="Second").click()
    site.locator("#a-001 a", has_text="A good story").click()  # a second click in the block: not reported
    site.wait_for_timeout(300)
    assert [r.url for r in reports][1:] == [f"{RECSYS}/v1/widget/clicks"]
    assert json.loads(reports[1].post_data) == {"impression_id": impression["impression_id"], "article_id": "a-001",
                                                "target_id": "second", "position": 2, "variant": expected_variant}
    assert reports[1].all_headers()["content-type"].startswith("text/plain")
    for sent in reports:
        assert "cookie" not in sent.all_headers()
    calls = [c for c in site.evaluate("window.__fetches") if "/v1/widget/" in c["url"]]
    assert [c["init"] for c in calls] == [{"method": "POST", "keepalive": True, "credentials": "omit"}] * 2
    assert site.evaluate("window.sessionStorage.getItem('recsys-visitor')") == key
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []


@pytest.mark.parametrize("answer", [
    {"ok": True, "variants": "control"},
    {"ok": True, "variants": [{"name": "<img src=x onerror=window.__pwned=1>", "share": 1}]},
    {"ok": True, "variants": [{"name": 7, "share": "1"}, None]},
    ["not", "an", "object"],
])
def test_hostile_variant_answers_never_run_or_break_the_block(site, answer):
    asked = []
    site.route(f"{RECSYS}/v1/variants", lambda route: route.fulfill(
        status=200, content_type="application/json", headers=CORS, body=json.dumps(answer)))

    def related(route):
        asked.append(route.request.url)
        route.fulfill(status=200, content_type="application/json", headers=CORS,
                      body=json.dumps({"ok": True, "results": [GOOD]}))

    site.route("**/v1/articles/*/related*", related)
    site.route(f"{RECSYS}/v1/widget/impressions", lambda route: route.fulfill(
        status=200, content_type="application/json", headers=CORS, body=json.dumps({"ok": True})))
    site.pages[f"{PUBLISHER}/story"] = story(["a-001"]).replace('async>', 'async data-track="true">')
    site.goto(f"{PUBLISHER}/story")
    site.wait_for_selector("#a-001 .recsys-related")
    site.wait_for_timeout(300)
    assert len(asked) == 1 and "variant=" not in asked[0]  # no usable list of several variants: the plain list
    assert site.locator("#a-001 a").get_attribute("href") == GOOD["url"]
    assert site.evaluate("typeof window.__pwned") == "undefined"
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []


def test_without_track_the_widget_reports_nothing_and_stores_no_key(site):
    site.answers["a-001"] = {"ok": True, "results": [GOOD]}
    site.open_story(["a-001"])
    site.wait_for_selector("#a-001 .recsys-related")
    site.evaluate(CLICK_GUARD)
    site.locator("#a-001 a").click()
    site.wait_for_timeout(300)
    assert site.evaluate("window.sessionStorage.length") == 0
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []


def test_a_block_clicked_before_it_was_seen_sends_its_list_with_the_click(site):
    site.add_init_script("""window.IntersectionObserver = function () {  // never reports the block seen
        this.observe = function () {}; this.disconnect = function () {}; };""")
    reports = []
    site.route(f"{RECSYS}/v1/variants", lambda route: route.fulfill(
        status=200, content_type="application/json", headers=CORS,
        body=json.dumps({"ok": True, "variants": [{"name": "control", "share": 1}]})))

    def report(route):
        reports.append(route.request)
        route.fulfill(status=200, content_type="application/json", headers=CORS, body=json.dumps({"ok": True}))

    site.route(f"{RECSYS}/v1/widget/impressions", report)
    site.route(f"{RECSYS}/v1/widget/clicks", report)
    site.answers["a-001"] = {"ok": True, "results": [GOOD]}
    site.pages[f"{PUBLISHER}/story"] = story(["a-001"]).replace('async>', 'async data-track="true">')
    site.goto(f"{PUBLISHER}/story")
    site.wait_for_selector("#a-001 .recsys-related")
    site.evaluate(CLICK_GUARD)
    site.locator("#a-001 a").click()
    site.wait_for_timeout(300)
    assert [r.url for r in reports] == [f"{RECSYS}/v1/widget/clicks"]
    sent = json.loads(reports[0].post_data)
    assert sent["ids"] == ["good"] and sent["target_id"] == "good" and sent["position"] == 1
    assert sent["variant"] == "control"  # one variant: the plain list, recorded as that variant
    assert site.dialogs == [] and site.errors == [] and site.unexpected == []
