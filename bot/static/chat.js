// The web chat: show the bot's replies with their buttons, send what is typed or pressed.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var token = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var busy = false;

  function show(text, who) {
    var div = document.createElement("div");
    div.className = "msg " + who;
    div.textContent = text;
    log.appendChild(div);
    window.scrollTo(0, document.body.scrollHeight);
    return div;
  }

  function disableOld() {
    var old = log.querySelectorAll(".buttons button");
    for (var i = 0; i < old.length; i++) { old[i].disabled = true; }
  }

  function showReply(reply) {
    var div = show(reply.text, "bot");
    if (reply.buttons && reply.buttons.length) {
      var box = document.createElement("div");
      box.className = "buttons";
      reply.buttons.forEach(function (row) {
        var line = document.createElement("div");
        line.className = "row";
        row.forEach(function (b) {
          var button = document.createElement("button");
          button.type = "button";
          button.textContent = b.text;
          button.addEventListener("click", function () { press(b.text, b.data); });
          line.appendChild(button);
        });
        box.appendChild(line);
      });
      div.appendChild(box);
    }
  }

  function post(path, body) {
    if (busy) { return Promise.resolve(); }
    busy = true;
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify(body || {})
    }).then(function (response) {
      if (response.status === 401 || response.redirected) { window.location.href = "/login"; return null; }
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      if (data) { disableOld(); data.replies.forEach(showReply); }
    }).catch(function () {
      show("연결에 문제가 있어요. 잠시 뒤에 다시 해 주세요.", "bot note");
    }).then(function () { busy = false; });
  }

  function press(text, data) {
    show(text, "me");
    post("/chat/api/press", {data: data}).then(poll);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (!text.trim()) { return; }
    input.value = "";
    show(text, "me");
    post("/chat/api/send", {text: text}).then(poll);
  });

  // The id of the last message shown. Each poll sends it: the server then counts everything up
  // to it as delivered and offers only what is newer. A lost response loses nothing: the same
  // messages come again, and ids already shown are skipped.
  var lastShown = 0;

  function poll() {
    return fetch("/chat/api/messages", {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token, "X-Dolbom-Poll": "1"},
      body: JSON.stringify({after: lastShown || null})
    })
      .then(function (response) { return response.ok ? response.json() : {messages: []}; })
      .then(function (data) {
        data.messages.forEach(function (message) {
          if (message.id <= lastShown) { return; }
          showReply(message);
          lastShown = message.id;
        });
      })
      .catch(function () { /* the next poll tries again */ });
  }

  post("/chat/api/start").then(poll);
  window.setInterval(poll, 3000);
})();
