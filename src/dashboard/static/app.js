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

// The object browser's upload: each file is sent to the console gateway as S3 requests
// (one PUT, or a multipart upload in 8 MiB parts from 16 MiB on), with the page's CSRF
// token; progress is shown per file and the listing reloads when all are done.
(function () {
  "use strict";
  var form = document.getElementById("upload");
  if (!form) return;
  var PART = 8 * 1024 * 1024, MULTIPART_FROM = 16 * 1024 * 1024;
  var bucket = form.getAttribute("data-bucket");
  var prefix = form.getAttribute("data-prefix") || "";
  var csrf = form.getAttribute("data-csrf");
  var list = document.getElementById("upload-progress");

  function url(key, query) {
    var path = key.split("/").map(encodeURIComponent).join("/");
    return "/dashboard/s3/" + encodeURIComponent(bucket) + "/" + path + (query ? "?" + query : "");
  }
  // One S3 request; resolves with the XHR, rejects with S3's error text.
  function send(method, target, body, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, target);
      x.setRequestHeader("x-bascule-csrf", csrf);
      if (onProgress) x.upload.onprogress = function (e) { onProgress(e.loaded); };
      x.onload = function () {
        if (x.status >= 200 && x.status < 300) return resolve(x);
        var m = /<Code>([^<]*)<\/Code>(?:[\s\S]*<Message>([^<]*)<\/Message>)?/.exec(x.responseText || "");
        reject(new Error(m ? m[1] + (m[2] ? ": " + m[2] : "") : "HTTP " + x.status));
      };
      x.onerror = function () { reject(new Error("network error")); };
      x.send(body);
    });
  }
  function tag(xml, name) {
    var m = new RegExp("<" + name + ">([^<]*)</" + name + ">").exec(xml);
    return m ? m[1] : null;
  }
  function multipart(file, key, show) {
    var id;
    var etags = [];
    var done = 0;
    return send("POST", url(key, "uploads"), null)
      .then(function (x) {
        id = tag(x.responseText, "UploadId");
        var count = Math.ceil(file.size / PART);
        var chain = Promise.resolve();
        for (var n = 1; n <= count; n++) {
          (function (n) {
            chain = chain.then(function () {
              var part = file.slice((n - 1) * PART, Math.min(n * PART, file.size));
              return send("PUT", url(key, "partNumber=" + n + "&uploadId=" + encodeURIComponent(id)), part,
                function (loaded) { show(done + loaded); })
                .then(function (x) { etags.push([n, x.getResponseHeader("ETag")]); done += part.size; show(done); });
            });
          })(n);
        }
        return chain;
      })
      .then(function () {
        var doc = "<CompleteMultipartUpload>" + etags.map(function (p) {
          return "<Part><PartNumber>" + p[0] + "</PartNumber><ETag>" + p[1] + "</ETag></Part>";
        }).join("") + "</CompleteMultipartUpload>";
        return send("POST", url(key, "uploadId=" + encodeURIComponent(id)), doc);
      })
      .then(function (x) {
        // A completion can fail after its 200 (the error is in the body).
        if (/<Error>/.test(x.responseText)) throw new Error(tag(x.responseText, "Code") || "completion failed");
      })
      .catch(function (e) {
        if (id) send("DELETE", url(key, "uploadId=" + encodeURIComponent(id)), null).catch(function () {});
        throw e;
      });
  }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var files = Array.prototype.slice.call(document.getElementById("upload-files").files);
    if (!files.length) return;
    var failed = 0;
    var chain = Promise.resolve();
    files.forEach(function (file) {
      var key = prefix + file.name;
      var li = document.createElement("li");
      li.setAttribute("data-key", key);
      list.appendChild(li);
      function show(loaded) {
        var pct = file.size ? Math.floor(100 * loaded / file.size) : 100;
        li.textContent = key + ": " + pct + " %";
      }
      show(0);
      chain = chain.then(function () {
        var put = file.size >= MULTIPART_FROM ? multipart(file, key, show) : send("PUT", url(key), file, show);
        return put.then(function () { li.textContent = key + ": uploaded"; li.className = "ok"; },
          function (e) { failed++; li.textContent = key + ": failed (" + e.message + ")"; li.className = "bad"; });
      });
    });
    chain.then(function () { if (!failed) window.location.reload(); });
  });
})();
