// Forms: waits counted down, and "Text a code to ..." without leaving the
// page. Progressive: without scripts a wait reads "in 27 s" as the server
// wrote it, and the button posts its form (the page comes back with what
// was typed, but the password and the code).
"use strict";
(function () {
  // "27 s", "15 min", "3 h": rounded up, in the server's words
  // (`errors::short_wait`).
  function words(s) {
    if (s < 120) return s + " s";
    if (s < 7200) return Math.ceil(s / 60) + " min";
    return Math.ceil(s / 3600) + " h";
  }

  // Counts `span` down from `seconds` ("in 27 s" ... "now"), then calls
  // `done`.
  function countdown(span, seconds, done) {
    var end = Date.now() + seconds * 1000;
    function tick() {
      var left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0) {
        span.textContent = "now";
        if (done) done();
        return;
      }
      span.textContent = "in " + words(left);
      // Next when the count changes.
      setTimeout(tick, (end - Date.now()) % 1000 || 1000);
    }
    tick();
  }

  document.querySelectorAll("[data-countdown]").forEach(function (span) {
    countdown(span, Number(span.dataset.countdown) || 0);
  });

  // A message in `status`: the words, and a wait counted down after them.
  function say(status, message, wait, done) {
    status.textContent = "";
    status.append(message);
    if (wait) {
      var span = document.createElement("span");
      span.className = "countdown";
      span.setAttribute("aria-live", "off");
      status.append(" ", span, ".");
      countdown(span, wait, done);
    }
  }

  document.querySelectorAll("button[data-send-code]").forEach(function (button) {
    var status = document.getElementById(button.dataset.sendCode);
    if (!status || !window.fetch || !window.URLSearchParams) return;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      var body = new URLSearchParams();
      body.set("csrf_token", button.form.elements.csrf_token.value);
      body.set("next", button.value);
      button.disabled = true;
      fetch(button.formAction, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      })
        .then(function (r) { return r.json(); })
        .then(function (answer) {
          var again = function () { button.disabled = false; };
          say(status, answer.message, answer.wait, again);
          if (!answer.wait) again();
        })
        .catch(function () {
          say(status, "The code could not be sent. Please try again.");
          button.disabled = false;
        });
    });
  });
})();
