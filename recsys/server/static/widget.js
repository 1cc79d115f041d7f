/* recsys related-articles widget. No dependencies.
 *
 *   <div data-recsys-related="ARTICLE_ID"></div>
 *   <script src="https://recsys.example.com/widget.js" async
 *           data-k="5" data-title="Related"
 *           data-events-url="https://recsys.example.com/v1/widget/views"></script>
 *
 * The API defaults to the script's own origin (data-api overrides it). The block stays hidden until
 * its list has loaded, and stays hidden if the API is down or has nothing to list. A hit is shown only
 * with an http(s) link (a relative url counts, resolved against the page) and a string title (or id):
 * any other hit is left out, so one bad row can never put a javascript: link on the page. Text goes
 * in with textContent only. One view of the page's article (the first block's) is reported, only when
 * data-events-url is set, as {"article_id": ...} without cookies. Style it through the recsys-related*
 * classes.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  function option(name, fallback) {
    var value = script && script.getAttribute("data-" + name);
    return value === null || value === undefined || value === "" ? fallback : value;
  }
  var api = option("api", script && script.src ? new URL(script.src, window.location.href).origin : "");
  var k = parseInt(option("k", "5"), 10) || 5;
  var heading = option("title", "Related");
  var eventsUrl = option("events-url", null);
  var count = 0;

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  function nonEmpty(value) {
    return typeof value === "string" && value ? value : null;
  }

  // The absolute http(s) URL that a hit's url stands for, or null: no javascript:, data:, vbscript:...
  function safeUrl(value) {
    if (!nonEmpty(value)) return null;
    try {
      var url = new URL(value, window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (ignored) {
      return null;
    }
  }

  function entry(hit) {
    if (!hit || typeof hit !== "object") return null;
    var url = safeUrl(hit.url), label = nonEmpty(hit.title) || nonEmpty(hit.id);
    if (!url || !label) return null;
    var item = element("li", "recsys-related__item");
    var link = element("a", "recsys-related__link", label);
    link.setAttribute("href", url);
    item.appendChild(link);
    var published = nonEmpty(hit.published_at);
    if (published) {
      var date = element("time", "recsys-related__date", published.slice(0, 10));
      date.setAttribute("datetime", published);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(date);
    }
    return item;
  }

  function render(block, results) {
    var list = element("ol", "recsys-related__list");
    results.forEach(function (hit) {
      var item = entry(hit);
      if (item) list.appendChild(item);
    });
    if (!list.childNodes.length) return;  // nothing valid to show: the block stays hidden
    var headingId = "recsys-related-heading-" + (++count);
    var section = element("section", "recsys-related");
    section.setAttribute("aria-labelledby", headingId);
    var title = element("h2", "recsys-related__title", heading);
    title.id = headingId;
    section.appendChild(title);
    section.appendChild(list);
    block.textContent = "";
    block.appendChild(section);
    block.hidden = false;
  }

  function reportView(articleId) {
    if (!eventsUrl) return;
    try {  // the server makes the event's id and checks the Origin header the browser sends
      fetch(eventsUrl, {method: "POST", keepalive: true, credentials: "omit",
                        headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({article_id: articleId})}).catch(function () {});
    } catch (ignored) { /* reporting never breaks the page */ }
  }

  function load(block) {
    var articleId = block.getAttribute("data-recsys-related");
    block.hidden = true;
    if (!articleId || !window.fetch) return;
    fetch(api + "/v1/articles/" + encodeURIComponent(articleId) + "/related?fallback=true&k=" + k,
          {credentials: "omit"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (data && data.ok && Array.isArray(data.results)) render(block, data.results);
      })
      .catch(function () { /* API down: the block stays hidden */ });
  }

  function start() {
    var blocks = document.querySelectorAll("[data-recsys-related]");
    Array.prototype.forEach.call(blocks, load);
    if (blocks.length) reportView(blocks[0].getAttribute("data-recsys-related"));  // the page's article
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
