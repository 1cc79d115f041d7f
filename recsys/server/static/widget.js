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
 *
 * With data-track="true" the widget also reports, without cookies, what the block showed and what was
 * clicked: one impression when the block is half in view (the article, the ids shown in order, the
 * variant, a random impression id), and the first click in the block (the impression, the target, its
 * position from 1; with the ids shown if the block was clicked before it was reported seen) as a
 * keepalive request, which outlives the page that the click unloads. It takes
 * part in the service's A/B variants (GET /v1/variants): a random visitor key, kept in sessionStorage
 * only, picks the variant, the same one on every page of the visit; data-variant="NAME" forces one.
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
  var track = option("track", "false") === "true";
  var forcedVariant = option("variant", null);
  var count = 0;
  var variantLookup = null;  // one lookup of the variants per page

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

  function render(block, results, articleId, variant) {
    var list = element("ol", "recsys-related__list");
    var shown = [];
    results.forEach(function (hit) {
      var item = entry(hit);
      if (item) {
        list.appendChild(item);
        shown.push(nonEmpty(hit.id));
      }
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
    if (track && variant && shown.every(Boolean)) watch(section, articleId, shown, variant);
  }

  // ------------------------------------------------------------ impressions, clicks and variants
  function randomKey() {
    var bytes = new Uint8Array(16), text = "";
    if (window.crypto && window.crypto.getRandomValues) window.crypto.getRandomValues(bytes);
    else for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    for (var j = 0; j < bytes.length; j++) text += (bytes[j] + 256).toString(16).slice(1);
    return text;
  }

  var pageKey = null;
  function visitorKey() {  // sessionStorage only: gone when the tab closes; never sent anywhere
    try {
      var key = window.sessionStorage.getItem("recsys-visitor");
      if (!/^[0-9a-f]{32}$/.test(key || "")) {
        key = randomKey();
        window.sessionStorage.setItem("recsys-visitor", key);
      }
      return key;
    } catch (ignored) {  // storage blocked: a key for this page only
      return pageKey || (pageKey = randomKey());
    }
  }

  // The visitor key's point in [0, 1): FNV-1a over its UTF-16 code units, then MurmurHash3's finaliser
  // (recsys.feedback.variants.bucket computes the same).
  function bucket(key) {
    var h = 0x811c9dc5;
    for (var i = 0; i < key.length; i++) {
      h ^= key.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return (h >>> 0) / 4294967296;
  }

  function assign(variants) {
    var point = bucket(visitorKey()), total = 0;
    for (var i = 0; i < variants.length; i++) {
      total += variants[i].share;
      if (point < total || i === variants.length - 1) return variants[i].name;
    }
    return null;
  }

  // Calls back with [the variant to ask for (null: none), the variant to record].
  function withVariant(callback) {
    if (!track) return callback([null, null]);
    if (forcedVariant) return callback([forcedVariant, forcedVariant]);
    if (!variantLookup) {
      variantLookup = fetch(api + "/v1/variants", {credentials: "omit"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          var list = data && Array.isArray(data.variants) ? data.variants.filter(function (v) {
            return v && nonEmpty(v.name) && typeof v.share === "number" && v.share > 0;
          }) : [];
          if (!list.length) return [null, null];
          var name = assign(list);
          return list.length > 1 ? [name, name] : [null, name];  // one variant: the plain (fast) list
        })
        .catch(function () { return [null, null]; });
    }
    variantLookup.then(callback);
  }

  function send(path, body, plain) {
    try {  // no cookies; the server checks the Origin header the browser sends
      fetch(api + path, {method: "POST", keepalive: true, credentials: "omit",
                         headers: {"Content-Type": plain ? "text/plain;charset=UTF-8" : "application/json"},
                         body: JSON.stringify(body)}).catch(function () {});
    } catch (ignored) { /* reporting never breaks the page */ }
  }

  function watch(section, articleId, shown, variant) {
    var impression = {impression_id: randomKey(), article_id: articleId, ids: shown, variant: variant};
    var seen = false, clicked = false, observer = null;
    function report() {
      if (seen) return;
      seen = true;
      if (observer) observer.disconnect();
      send("/v1/widget/impressions", impression, false);
    }
    if (window.IntersectionObserver) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (e) { return e.isIntersecting; })) report();
      }, {threshold: 0.5});
      observer.observe(section);
    } else {
      report();
    }
    function onClick(event) {
      var link = event.target && event.target.closest ? event.target.closest("a.recsys-related__link") : null;
      if (!link || clicked || (event.type === "auxclick" && event.button !== 1)) return;
      var links = section.querySelectorAll("a.recsys-related__link");
      var position = Array.prototype.indexOf.call(links, link) + 1;
      if (position < 1) return;
      clicked = true;  // an impression counts its first click only
      var body = {impression_id: impression.impression_id, article_id: articleId,
                  target_id: shown[position - 1], position: position, variant: variant};
      if (!seen) {  // clicked before it was reported seen: the click carries its impression
        seen = true;
        if (observer) observer.disconnect();
        body.ids = shown;
      }
      // keepalive: the request outlives the page the click unloads; text/plain needs no preflight
      send("/v1/widget/clicks", body, true);
    }
    section.addEventListener("click", onClick);
    section.addEventListener("auxclick", onClick);
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
    withVariant(function (chosen) {
      var asked = chosen[0];
      fetch(api + "/v1/articles/" + encodeURIComponent(articleId) + "/related?fallback=true&k=" + k +
            (asked ? "&variant=" + encodeURIComponent(asked) : ""), {credentials: "omit"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data && data.ok && Array.isArray(data.results)) {
            render(block, data.results, articleId, nonEmpty(data.variant) || chosen[1]);
          }
        })
        .catch(function () { /* API down: the block stays hidden */ });
    });
  }

  function start() {
    var blocks = document.querySelectorAll("[data-recsys-related]");
    Array.prototype.forEach.call(blocks, load);
    if (blocks.length) reportView(blocks[0].getAttribute("data-recsys-related"));  // the page's article
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
