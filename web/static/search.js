// Vigil console, search page: drag across the histogram to zoom, open an
// event in place, live tail. Without JavaScript the page still works:
// histogram bars are links, each event's time links to it opened.
"use strict";
(function () {
  function $(sel, root) { return (root || document).querySelector(sel); }

  // Histogram: dragging across bars selects a range; the page then loads
  // the search narrowed to it (the svg's data-zoom URL).
  function initHistogram(svg) {
    var zoom = svg.getAttribute("data-zoom");
    var bars = svg.querySelectorAll("a[data-t]");
    if (!zoom || bars.length === 0) {
      return;
    }
    var left = +svg.getAttribute("data-left"), right = +svg.getAttribute("data-right");
    var step = +svg.getAttribute("data-step");
    var t0 = +bars[0].getAttribute("data-t");
    var n = bars.length;
    var sel = $(".selection", svg);
    var from = null, dragged = false;
    function x(e) {
      var p = svg.createSVGPoint();
      p.x = e.clientX;
      p.y = e.clientY;
      var q = p.matrixTransform(svg.getScreenCTM().inverse());
      return Math.min(Math.max(q.x, left), right);
    }
    function timeAt(px) {
      var i = Math.floor((px - left) / (right - left) * n);
      return t0 + Math.min(Math.max(i, 0), n - 1) * step;
    }
    svg.addEventListener("mousedown", function (e) {
      if (e.button !== 0) {
        return;
      }
      e.preventDefault();
      from = x(e);
      dragged = false;
    });
    svg.addEventListener("mousemove", function (e) {
      if (from === null) {
        return;
      }
      var to = x(e);
      if (Math.abs(to - from) > 3) {
        dragged = true;
      }
      sel.setAttribute("x", Math.min(from, to));
      sel.setAttribute("width", Math.abs(to - from));
    });
    document.addEventListener("mouseup", function (e) {
      if (from === null) {
        return;
      }
      var to = x(e), a = from;
      from = null;
      if (!dragged) {
        sel.setAttribute("width", 0);
        return; // a click: the bar's own link zooms
      }
      var s = timeAt(Math.min(a, to)), en = timeAt(Math.max(a, to)) + step;
      window.location.href = zoom.replace("{start}", encodeURIComponent(new Date(s).toISOString().replace(".000Z", "Z")))
        .replace("{end}", encodeURIComponent(new Date(en).toISOString().replace(".000Z", "Z")));
    });
    // The click that ends a drag must not follow the bar's link.
    svg.addEventListener("click", function (e) {
      if (dragged) {
        e.preventDefault();
        dragged = false;
      }
    }, true);
  }

  // Events: the toggle of a row shows its detail row (all fields, served
  // with the page) and loads its raw journal line once.
  function initEvents(table) {
    table.addEventListener("click", function (e) {
      var a = e.target.closest("a.ev-toggle");
      if (!a || e.ctrlKey || e.metaKey || e.shiftKey) {
        return;
      }
      var row = a.closest("tr"), detail = row.nextElementSibling;
      if (!detail || !detail.classList.contains("ev-detail")) {
        return;
      }
      e.preventDefault();
      var open = detail.hidden;
      detail.hidden = !open;
      row.classList.toggle("open", open);
      a.setAttribute("aria-expanded", open ? "true" : "false");
      var raw = $(".ev-raw", detail);
      if (open && raw && !raw.getAttribute("data-loaded")) {
        raw.setAttribute("data-loaded", "1");
        window.vigil.fetch(raw.getAttribute("data-src")).then(function (r) {
          return r.json().then(function (j) { return {ok: r.ok, j: j}; });
        }).then(function (res) {
          if (!res.ok) {
            raw.textContent = res.j.error || "error";
          } else if (res.j.raw) {
            // raw_text: decoded from the input's charset (raw.data is
            // then the bytes as received, often only as base64).
            raw.textContent = res.j.raw_text !== undefined ? res.j.raw_text :
              res.j.raw.data !== undefined ? res.j.raw.data : "base64: " + res.j.raw.data_base64;
          } else {
            raw.textContent = res.j.raw_note || "";
          }
        }).catch(function (err) { raw.textContent = String(err); });
      }
    });
  }

  // Live tail: while on and the page is visible, ask the tail endpoint
  // for new events (it waits up to 20s for some) and put them on top.
  function initTail(btn) {
    var table = $("table.events tbody"), status = $("#tail-status");
    var on = false, cursor = "", ctl = null, timer = null;
    var cols = JSON.parse(btn.getAttribute("data-columns") || "[]");
    var opts = {year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZoneName: "short", timeZone: btn.getAttribute("data-zone") || undefined};
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat("sv-SE", opts);
    } catch (e) { // a zone this browser does not know: UTC, named
      opts.timeZone = "UTC";
      fmt = new Intl.DateTimeFormat("sv-SE", opts);
    }
    function add(ev) {
      var tr = document.createElement("tr");
      tr.className = "tailed";
      var td = document.createElement("td");
      td.className = "time";
      td.textContent = fmt.format(new Date(ev.time));
      tr.appendChild(td);
      cols.forEach(function (c) {
        var cell = document.createElement("td");
        cell.textContent = ev.fields[c] || "";
        if (c === "_msg") {
          cell.className = "msg";
        }
        tr.appendChild(cell);
      });
      table.insertBefore(tr, table.firstChild);
      var empty = $(".results .empty");
      if (empty) {
        empty.hidden = true; // "no events match" no longer holds
      }
      while (table.rows.length > 500) {
        table.deleteRow(table.rows.length - 1);
      }
    }
    function poll() {
      timer = null;
      if (!on || document.hidden) {
        return;
      }
      ctl = new AbortController();
      var url = btn.getAttribute("data-src") + "&cursor=" + encodeURIComponent(cursor) + (cursor ? "&wait=20s" : "");
      window.vigil.fetch(url, {signal: ctl.signal}).then(function (r) {
        return r.json().then(function (j) { return {ok: r.ok, j: j}; });
      }).then(function (res) {
        if (!res.ok) {
          status.textContent = res.j.error || "error";
          setOn(false);
          return;
        }
        cursor = res.j.cursor;
        for (var i = res.j.events.length - 1; i >= 0; i--) {
          add(res.j.events[i]);
        }
        if (res.j.skipped) {
          status.textContent = btn.getAttribute("data-skipped");
        }
        timer = window.setTimeout(poll, 1000); // at most one request a second
      }).catch(function () {
        if (on) {
          timer = window.setTimeout(poll, 5000);
        }
      });
    }
    function setOn(v) {
      on = v;
      btn.setAttribute("aria-pressed", v ? "true" : "false");
      btn.textContent = btn.getAttribute(v ? "data-label-on" : "data-label-off");
      if (!v) {
        if (ctl) {
          ctl.abort();
        }
        if (timer) {
          window.clearTimeout(timer);
          timer = null;
        }
        status.textContent = "";
      } else {
        status.textContent = btn.getAttribute("data-waiting");
        poll();
      }
    }
    btn.hidden = false;
    btn.addEventListener("click", function () { setOn(!on); });
    document.addEventListener("visibilitychange", function () {
      if (!on) {
        return;
      }
      if (document.hidden) {
        if (ctl) {
          ctl.abort();
        }
      } else if (!timer) {
        poll();
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("svg.histogram").forEach(initHistogram);
    var t = $("table.events");
    if (t) {
      initEvents(t);
    }
    var b = $("#tail-toggle");
    if (b) {
      initTail(b);
    }
  });
})();
