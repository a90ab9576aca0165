// Copy buttons: `<button data-copy="ID" hidden>` copies the text of the
// `<code>` elements inside element ID, one a line. The button stays hidden
// where the Clipboard API is missing (old browsers, plain http off
// localhost); the codes can still be selected or downloaded.
"use strict";
(function () {
  if (!(navigator.clipboard && window.isSecureContext)) return;
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var status = document.getElementById("copy-status");
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = Array.prototype.map
        .call(source.querySelectorAll("code"), function (c) { return c.textContent; })
        .join("\n") + "\n";
      navigator.clipboard.writeText(text).then(
        function () { if (status) status.textContent = "Copied."; },
        function () { if (status) status.textContent = "Could not copy: select the codes instead."; }
      );
    });
  });
})();
