// Bascule dashboard: refreshes the zone page's live panel every few seconds. Everything
// else works without JavaScript.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var every = Number(live.getAttribute("data-refresh-ms")) || 3000;
  function refresh() {
    fetch(live.getAttribute("data-src"), { credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        // Signed out (the session ended): show the sign-in page.
        if (r.redirected || r.status === 401) { window.location.reload(); return null; }
        return r.ok ? r.text() : null;
      })
      .then(function (html) { if (html !== null) live.innerHTML = html; })
      .catch(function () { /* the server is away: try again next time */ })
      .finally(function () { window.setTimeout(refresh, every); });
  }
  window.setTimeout(refresh, every);
})();
