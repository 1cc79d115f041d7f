/* recsys related-articles widget. No dependencies.
 *
 *   <div data-recsys-related="ARTICLE_ID"></div>
 *   <script src="https://recsys.example.com/widget.js" async
 *           data-k="5" data-title="Related"
 *           data-events-url="https://recsys.example.com/v1/widget/views"></script>
 *
 * The API defaults to the script's own origin (data-api overrides it). The block stays hidden until
 * its list has loaded, and stays hidden if the API is down or has nothing to list. One view of the
 * page's article (the first block's) is reported, only when data-events-url is set. Style it through
 * the recsys-related* classes.
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

  function render(block, results) {
    var headingId = "recsys-related-heading-" + (++count);
    var section = element("section", "recsys-related");
    section.setAttribute("aria-labelledby", headingId);
    var title = element("h2", "recsys-related__title", heading);
    title.id = headingId;
    var list = element("ol", "recsys-related__list");
    results.forEach(function (hit) {
      var item = element("li", "recsys-related__item");
      var link = element("a", "recsys-related__link", hit.title || hit.id);
      link.href = hit.url || "#";
      item.appendChild(link);
      if (hit.published_at) {
        var date = element("time", "recsys-related__date", hit.published_at.slice(0, 10));
        date.setAttribute("datetime", hit.published_at);
        item.appendChild(document.createTextNode(" "));
        item.appendChild(date);
      }
      list.appendChild(item);
    });
    section.appendChild(title);
    section.appendChild(list);
    block.textContent = "";
    block.appendChild(section);
    block.hidden = false;
  }

  function reportView(articleId) {
    if (!eventsUrl) return;
    var id = "w-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
    try {
      fetch(eventsUrl, {method: "POST", keepalive: true, headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({id: id, article_id: articleId})}).catch(function () {});
    } catch (ignored) { /* reporting never breaks the page */ }
  }

  function load(block) {
    var articleId = block.getAttribute("data-recsys-related");
    block.hidden = true;
    if (!articleId || !window.fetch) return;
    fetch(api + "/v1/articles/" + encodeURIComponent(articleId) + "/related?fallback=true&k=" + k)
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data && data.ok && data.results.length) render(block, data.results); })
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
