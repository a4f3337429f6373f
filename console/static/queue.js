// The queue refreshes itself: a short poll every 15 seconds; when the marker changes,
// the rows and counts are fetched again and swapped in (no page reload).
(function () {
  "use strict";
  var table = document.getElementById("queue");
  if (!table || !table.dataset.marker) { return; }
  var marker = table.dataset.marker;
  var query = table.dataset.query ? "?" + table.dataset.query : "";
  var rows = document.getElementById("queue-rows");
  var fresh = document.getElementById("fresh");
  var EVERY = parseInt(table.dataset.every, 10) || 15000;

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Dolbom-Poll": "1" } });
  }

  var TABS = { desk: ["received", "screening"], providers: ["assigned", "accepted", "in_progress"] };

  function showCounts(counts, tabs) {
    Object.keys(counts).forEach(function (status) {
      var el = document.querySelector('#counts b[data-status="' + status + '"]');
      if (el) { el.textContent = counts[status]; }
    });
    Object.keys(TABS).forEach(function (tab) {
      var el = document.querySelector('b[data-tab="' + tab + '"]');
      if (!el) { return; }
      el.textContent = tabs && tabs[tab] !== undefined ? tabs[tab]
        : TABS[tab].reduce(function (n, s) { return n + (counts[s] || 0); }, 0);
    });
  }

  function tick() {
    get("/queue/poll").then(function (r) {
      if (r.status === 401) { window.location.assign("/login"); return null; }
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data || data.marker === marker) { return null; }
      showCounts(data.counts, data.tabs);
      return get("/queue/rows" + query).then(function (r) {
        if (!r.ok) { return; }
        marker = r.headers.get("X-Queue-Marker") || data.marker;
        return r.text().then(function (html) {
          rows.innerHTML = html;
          var total = document.getElementById("total");
          var n = r.headers.get("X-Queue-Total");
          if (total && n !== null) { total.textContent = total.textContent.replace(/\d+/, n); }
          if (fresh) { fresh.classList.remove("hidden"); }
        });
      });
    }).catch(function () { /* the desk's network blinked: try again next time */ })
      .then(function () { window.setTimeout(tick, EVERY); });
  }
  window.setTimeout(tick, EVERY);
}());

// Keyboard: j / k move the row cursor, Enter opens the order, a opens it at the assign form
// (the proposed provider is preselected there), / goes to the search box. Written on the page.
(function () {
  "use strict";
  var body = document.getElementById("queue-rows");
  if (!body) { return; }
  var at = -1;

  function rows() { return Array.prototype.slice.call(body.querySelectorAll("tr[data-href]")); }

  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    if (list[at]) { list[at].classList.remove("cursor"); }
    at = Math.max(0, Math.min(list.length - 1, at + step));
    list[at].classList.add("cursor");
    list[at].scrollIntoView({ block: "nearest" });
    var link = list[at].querySelector("a");
    if (link) { link.focus({ preventScroll: true }); }
  }

  document.addEventListener("keydown", function (e) {
    var t = e.target;
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable)) { return; }
    var list = rows();
    var row = list[at];
    if (e.key === "j") { move(1); e.preventDefault(); }
    else if (e.key === "k") { move(-1); e.preventDefault(); }
    else if (e.key === "Enter" && row) { window.location.assign(row.dataset.href); e.preventDefault(); }
    else if (e.key === "a" && row) { window.location.assign(row.dataset.href + "#assign-form"); e.preventDefault(); }
    else if (e.key === "/") {
      var q = document.getElementById("q");
      if (q) { q.focus(); q.select(); e.preventDefault(); }
    }
  });
  // The poll swaps the rows in: the cursor starts again from the top.
  new MutationObserver(function () { at = -1; }).observe(body, { childList: true });
}());
