// The console on a phone: the header's menu folds, and table rows read as cards (each cell names its column).
(function () {
  "use strict";
  var fold = document.getElementById("nav");
  var narrow = window.matchMedia("(max-width: 860px)");
  function fit() { if (fold) { fold.open = !narrow.matches; } }
  fit();
  if (narrow.addEventListener) { narrow.addEventListener("change", fit); }

  function label(table) {
    var heads = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr"), function (tr) {
      Array.prototype.forEach.call(tr.children, function (td, i) {
        if (heads[i] && !td.hasAttribute("data-label") && !td.hasAttribute("colspan")) {
          td.setAttribute("data-label", heads[i]);
        }
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("table.list"), function (table) {
      label(table);
      // Rows that arrive later (the queue refreshes itself) get their labels too.
      new MutationObserver(function () { label(table); }).observe(table, { childList: true, subtree: true });
    });
  });
})();
