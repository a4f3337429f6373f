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

  function showCounts(counts) {
    Object.keys(counts).forEach(function (status) {
      var el = document.querySelector('#counts b[data-status="' + status + '"]');
      if (el) { el.textContent = counts[status]; }
    });
  }

  function tick() {
    get("/queue/poll").then(function (r) {
      if (r.status === 401) { window.location.assign("/login"); return null; }
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data || data.marker === marker) { return null; }
      showCounts(data.counts);
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
