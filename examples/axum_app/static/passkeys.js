// Passkeys: the browser's half of the ceremonies of `src/passkeys.rs`.
// Each asks a `.../start` endpoint for the options (JSON, binary fields as
// base64url), hands them to `navigator.credentials`, and posts the answer
// (JSON, binary fields as base64url) to the matching `.../finish`, which
// says where to go next. Every request carries the page's CSRF token in the
// `X-CSRF-Token` header. Where WebAuthn is unavailable, or the page is
// opened at an IP address (browsers refuse passkeys there), the passkey
// parts stay hidden and a note says why; everything else works as before.
"use strict";
(function () {
  var unavailable = document.querySelectorAll(".passkey-unavailable");

  function explain(text) {
    unavailable.forEach(function (p) {
      p.textContent = text;
      p.hidden = false;
    });
  }

  function isIpAddress(host) {
    return /^[0-9.]+$/.test(host) || host.indexOf(":") >= 0 || host.charAt(0) === "[";
  }

  if (!window.PublicKeyCredential || !navigator.credentials) {
    explain("Passkeys are not available in this browser.");
    return;
  }
  if (isIpAddress(location.hostname)) {
    var port = location.port ? ":" + location.port : "";
    explain(
      "Passkeys need the site's name, not an IP address: open " +
        location.protocol + "//localhost" + port + location.pathname + " to use them."
    );
    return;
  }

  // base64url <-> ArrayBuffer.
  function toBuffer(text) {
    var b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) b64 += "=";
    var bin = atob(b64);
    var bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return bytes.buffer;
  }
  function toText(buffer) {
    if (!buffer) return null;
    var bytes = new Uint8Array(buffer);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function withIds(list) {
    return (list || []).map(function (c) {
      var copy = Object.assign({}, c);
      copy.id = toBuffer(c.id);
      return copy;
    });
  }

  // The options of the server, for `create` and `get`.
  function creationOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    pk.user = Object.assign({}, pk.user, { id: toBuffer(pk.user.id) });
    pk.excludeCredentials = withIds(pk.excludeCredentials);
    return pk;
  }
  function requestOptions(json) {
    var pk = Object.assign({}, json.publicKey);
    pk.challenge = toBuffer(pk.challenge);
    pk.allowCredentials = withIds(pk.allowCredentials);
    return pk;
  }

  // The browser's answer, for the server.
  function credentialJson(cred) {
    var r = cred.response;
    var response = { clientDataJSON: toText(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toText(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toText(r.authenticatorData);
      response.signature = toText(r.signature);
      response.userHandle = toText(r.userHandle);
    }
    return JSON.stringify({
      id: cred.id,
      rawId: toText(cred.rawId),
      type: cred.type,
      response: response,
      extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    });
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  // POSTs `body` to `url`; resolves with the JSON answer, rejects with an
  // Error whose message is the server's words.
  function post(url, body, contentType) {
    var headers = { "X-CSRF-Token": csrfToken(), Accept: "application/json" };
    if (contentType) headers["Content-Type"] = contentType;
    return fetch(url, {
      method: "POST",
      headers: headers,
      body: body,
      credentials: "same-origin",
    }).then(function (resp) {
      return resp
        .json()
        .catch(function () {
          return { message: "Something went wrong. Please try again." };
        })
        .then(function (json) {
          if (!resp.ok) throw new Error(json.message || "Something went wrong.");
          return json;
        });
    });
  }

  // A refusal of the browser (cancelled, timed out) or of the server.
  function failure(status, err) {
    if (err && err.name === "NotAllowedError") {
      status.textContent = "The passkey request was cancelled or timed out.";
    } else if (err && err.name === "InvalidStateError") {
      status.textContent = "This passkey is already registered.";
    } else if (err && err.name === "AbortError") {
      return;
    } else {
      status.textContent = (err && err.message) || "Something went wrong.";
    }
  }

  function go(json) {
    if (json.redirect) location.assign(json.redirect);
  }

  function show(selector) {
    document.querySelectorAll(selector).forEach(function (el) {
      el.hidden = false;
    });
  }

  // --- Sign in (login page): the button, and the autofill.
  var signIn = document.querySelector("[data-passkey-sign-in]");
  var autofill = null;
  // The autofill's request, settled: a browser refuses a second request
  // while one is pending, even an aborted one not yet unwound.
  var autofillSettled = Promise.resolve();
  function getAndFinish(startUrl, finishUrl, mediation, signal) {
    return post(startUrl).then(function (json) {
      var opts = { publicKey: requestOptions(json) };
      if (mediation) opts.mediation = mediation;
      if (signal) opts.signal = signal;
      return navigator.credentials.get(opts).then(function (cred) {
        return post(finishUrl, credentialJson(cred), "application/json");
      });
    });
  }
  if (signIn) {
    var finish = signIn.getAttribute("data-passkey-sign-in");
    var status = signIn.querySelector(".passkey-status");
    signIn.hidden = false;
    var startAutofill = function () {
      if (!PublicKeyCredential.isConditionalMediationAvailable) return;
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        // The button was pressed meanwhile: its request goes alone (a
        // second start would replace its ceremony in the session).
        if (!ok || pressed) return;
        autofill = new AbortController();
        autofillSettled = getAndFinish("/login/passkey/start", finish, "conditional", autofill.signal)
          .then(go)
          .catch(function (err) {
            if (!autofill.signal.aborted) failure(status, err);
          });
      });
    };
    var pressed = false;
    signIn.querySelector("button").addEventListener("click", function () {
      // One request at a time: the autofill's pending (conditional)
      // request gives way to the button's; it settles as aborted.
      pressed = true;
      if (autofill) autofill.abort();
      status.textContent = "";
      autofillSettled
        .then(function () {
          return getAndFinish("/login/passkey/start", finish);
        })
        .then(go)
        .catch(function (err) {
          failure(status, err);
        });
    });
    startAutofill();
  }

  // --- The second factor (code page).
  var second = document.querySelector("[data-passkey-second-factor]");
  if (second) {
    second.hidden = false;
    var secondStatus = second.querySelector(".passkey-status");
    second.querySelector("button").addEventListener("click", function () {
      secondStatus.textContent = "";
      var remember = document.getElementById("remember_device");
      var url = "/verify_2fa/passkey/finish" + (remember && remember.checked ? "?remember_device=1" : "");
      getAndFinish("/verify_2fa/passkey/start", url)
        .then(go)
        .catch(function (err) {
          failure(secondStatus, err);
        });
    });
  }

  // --- Adding a passkey (Passkeys page).
  var add = document.getElementById("passkey-add-form");
  if (add) {
    show("[data-passkey-add]");
    var addStatus = add.querySelector(".passkey-status");
    add.addEventListener("submit", function (event) {
      event.preventDefault();
      addStatus.textContent = "";
      var body = new URLSearchParams(new FormData(add)).toString();
      post("/passkeys/add/start", body, "application/x-www-form-urlencoded")
        .then(function (json) {
          return navigator.credentials.create({ publicKey: creationOptions(json) });
        })
        .then(function (cred) {
          return post("/passkeys/add/finish", credentialJson(cred), "application/json");
        })
        .then(go)
        .catch(function (err) {
          failure(addStatus, err);
        });
    });
  }

  // --- A passkey as the step-up proof (in place of the code).
  document.querySelectorAll("form[data-step-up-form]").forEach(function (form) {
    var button = form.querySelector("[data-passkey-step-up]");
    if (!button) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      // Every required field but the code the passkey stands for (the
      // password: "current" on the password page; a new password, an
      // address): the form is sent without the browser's checks.
      var fields = form.querySelectorAll("input[required]:not([name=code])");
      for (var i = 0; i < fields.length; i++) {
        if (!fields[i].reportValidity()) return;
      }
      post("/passkeys/step_up/start")
        .then(function (json) {
          return navigator.credentials.get({ publicKey: requestOptions(json) });
        })
        .then(function (cred) {
          form.querySelector("input[name=passkey_response]").value = credentialJson(cred);
          var code = form.querySelector("input[name=code]");
          if (code) code.required = false;
          form.submit();
        })
        .catch(function (err) {
          var status = form.querySelector(".passkey-status");
          if (!status) {
            status = document.createElement("p");
            status.className = "hint passkey-status";
            status.setAttribute("role", "status");
            form.append(status);
          }
          failure(status, err);
        });
    });
  });
})();
