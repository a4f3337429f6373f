// The inbox, live: a short poll (decision 0014) of /inbox/poll every few seconds.
// Every page: the unread count on the menu's 상담함 link and in the tab's title.
// The inbox list and an open conversation: when the stamp moves, the rows or the messages are
// fetched again and swapped in, new ones highlighted (no reload, no sound).
// A reply box: typing "/" and a short code offers the canned replies; Tab or a click inserts one.
(function () {
  "use strict";
  var EVERY = 5000;
  var link = document.querySelector('nav.menu a[href="/inbox"]');
  var list = document.getElementById("inbox");
  var messages = document.getElementById("messages");
  var baseTitle = document.title;
  var badge = null;
  var late = null;
  if (link) {
    badge = document.createElement("span");
    badge.className = "inbox-badge hidden";
    badge.id = "inbox-badge";
    link.appendChild(badge);
    // Conversations past their first-answer time, on every page's header (the queue included).
    late = document.createElement("span");
    late.className = "inbox-badge inbox-late hidden";
    late.id = "inbox-late";
    link.appendChild(late);
  }
  // Open complaints (민원·사고) on the menu's 민원 link, from the same poll.
  var complaintsLink = document.querySelector('nav.menu a[href="/complaints"]');
  var complaintsBadge = null;
  if (complaintsLink) {
    complaintsBadge = document.createElement("span");
    complaintsBadge.className = "inbox-badge hidden";
    complaintsBadge.id = "complaints-badge";
    complaintsLink.appendChild(complaintsBadge);
  }
  // Start from the stamps the page was rendered with, not the first poll's: a message that lands
  // between the page and its first poll would otherwise never be shown.
  var stamp = list && list.dataset.stamp ? Number(list.dataset.stamp) : null;
  var threadStamp = messages && messages.dataset.stamp ? Number(messages.dataset.stamp) : null;

  function get(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Dolbom-Poll": "1" } });
  }

  function showUnread(n) {
    if (badge) {
      badge.textContent = n > 0 ? String(n) : "";
      badge.classList.toggle("hidden", n === 0);
    }
    document.title = n > 0 ? "(" + n + ") " + baseTitle : baseTitle;
  }

  function highlight(root, selector) {
    Array.prototype.forEach.call(root.querySelectorAll(selector), function (el) {
      el.classList.add("fresh");
      window.setTimeout(function () { el.classList.remove("fresh"); }, 8000);
    });
  }

  function refreshList() {
    var query = list.dataset.query ? "?" + list.dataset.query : "";
    return get("/inbox/rows" + query).then(function (r) {
      if (!r.ok) { return; }
      return r.text().then(function (html) {
        document.getElementById("inbox-rows").innerHTML = html;
        highlight(list, "tr.unread");
        var fresh = document.getElementById("inbox-fresh");
        if (fresh) { fresh.classList.remove("hidden"); }
      });
    });
  }

  function refreshMessages() {
    var before = messages.children.length;
    return get("/inbox/" + messages.dataset.thread + "/messages").then(function (r) {
      if (!r.ok) { return; }
      return r.text().then(function (html) {
        messages.innerHTML = html;
        Array.prototype.slice.call(messages.children, before).forEach(function (el) {
          el.classList.add("fresh");
        });
      });
    });
  }

  function tick() {
    var url = "/inbox/poll" + (messages ? "?thread=" + messages.dataset.thread : "");
    get(url).then(function (r) {
      if (r.status === 401) { return null; }
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) { return null; }
      showUnread(data.unread);
      if (complaintsBadge) {
        var n = data.complaints_open || 0;
        complaintsBadge.textContent = n > 0 ? String(n) : "";
        complaintsBadge.classList.toggle("hidden", n === 0);
      }
      if (late) {
        late.textContent = data.overdue > 0 ? "\u23F0 " + data.overdue : "";
        late.title = data.overdue_label || "";
        late.classList.toggle("hidden", data.overdue === 0);
      }
      var overdue = document.getElementById("inbox-overdue");
      if (overdue) { overdue.textContent = data.overdue; }
      var jobs = [];
      if (list && stamp !== null && data.stamp !== stamp) { jobs.push(refreshList()); }
      if (messages && threadStamp !== null && data.thread_stamp !== threadStamp) { jobs.push(refreshMessages()); }
      stamp = data.stamp;
      threadStamp = data.thread_stamp;
      return Promise.all(jobs);
    }).catch(function () { /* the network blinked: try again next time */ })
      .then(function () { window.setTimeout(tick, EVERY); });
  }
  if (link || list || messages || complaintsLink) { tick(); }

  // Canned replies: "/" and a short code.
  var box = document.querySelector("textarea[data-canned-list]");
  var data = document.getElementById("canned-data");
  if (box && data) {
    var canned = JSON.parse(data.textContent || "{}");
    var menu = document.getElementById(box.dataset.cannedList);
    var matches = [];
    var insert = function (code) {
      box.value = canned[code];
      menu.classList.add("hidden");
      box.focus();
    };
    box.addEventListener("input", function () {
      var m = /^\/(\S*)$/.exec(box.value);
      matches = m ? Object.keys(canned).filter(function (c) { return c.indexOf(m[1]) === 0; }) : [];
      menu.innerHTML = "";
      matches.forEach(function (code) {
        var li = document.createElement("li");
        var b = document.createElement("button");
        b.type = "button";
        b.textContent = "/" + code + " — " + canned[code].slice(0, 60);
        b.addEventListener("click", function () { insert(code); });
        li.appendChild(b);
        menu.appendChild(li);
      });
      menu.classList.toggle("hidden", matches.length === 0);
    });
    box.addEventListener("keydown", function (e) {
      if ((e.key === "Tab" || e.key === "Enter") && matches.length > 0 && /^\/\S*$/.test(box.value)) {
        e.preventDefault();
        insert(matches[0]);
        matches = [];
      }
    });
  }
}());
