// The alert queue: the header check box checks every row's.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("input.check-all").forEach(function (all) {
    var boxes = all.closest("table").querySelectorAll('tbody input[type="checkbox"][name="id"]');
    all.addEventListener("change", function () {
      boxes.forEach(function (b) { b.checked = all.checked; });
    });
  });
});
