// Vigil console: the little the pages need from JavaScript. Everything
// works without it; this only adds comfort. No third-party code.
"use strict";
(function () {
  document.documentElement.classList.add("js");

  // The CSRF token of the session, for fetch calls that change something:
  // vigil.fetch(url, {method: "POST", ...}) adds the X-CSRF-Token header.
  function csrfToken() {
    var f = document.querySelector('input[name="csrf"]');
    return f ? f.value : "";
  }
  window.vigil = {
    csrf: csrfToken,
    fetch: function (url, opts) {
      opts = opts || {};
      opts.headers = new Headers(opts.headers || {});
      var m = (opts.method || "GET").toUpperCase();
      if (m !== "GET" && m !== "HEAD") {
        opts.headers.set("X-CSRF-Token", csrfToken());
      }
      opts.credentials = "same-origin";
      return window.fetch(url, opts);
    }
  };

  document.addEventListener("DOMContentLoaded", function () {
    // A select marked data-autosubmit submits its form when it changes.
    document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
      s.addEventListener("change", function () { s.form.submit(); });
    });
    // Forms marked data-confirm="question" ask before they are sent.
    document.querySelectorAll("form[data-confirm]").forEach(function (f) {
      f.addEventListener("submit", function (e) {
        if (!window.confirm(f.getAttribute("data-confirm"))) {
          e.preventDefault();
        }
      });
    });
  });

  // "/" focuses the page's search box (an input marked data-search-box,
  // else the first search input), unless one is typing already.
  document.addEventListener("keydown", function (e) {
    if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) {
      return;
    }
    var t = e.target;
    if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) {
      return;
    }
    var box = document.querySelector("[data-search-box]") || document.querySelector('input[type="search"]');
    if (box) {
      e.preventDefault();
      box.focus();
      box.select();
    }
  });
})();
