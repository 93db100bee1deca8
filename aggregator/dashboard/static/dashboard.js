// Small progressive enhancements; every page works without this file.
document.addEventListener("submit", function (e) {
  var form = e.target;
  // A button may ask on its own (a second action of a form, e.g. "停用事项").
  var msg = (e.submitter && e.submitter.getAttribute("data-confirm")) ||
    form.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
    return;
  }
  // One submission per form: a double click on "登记回访" saved the callback twice. Forms
  // that download a file (exports) stay usable.
  if (form.method.toLowerCase() === "post") {
    if (form.dataset.sent) {
      e.preventDefault();
      return;
    }
    form.dataset.sent = "1";
  }
});
// Back to a page from the browser's history: its forms may be sent again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("form[data-sent]").forEach(function (f) {
    delete f.dataset.sent;
  });
});
// An edit form opened from a table row closes with a tap beside it or Escape: on a phone it
// lies over the page, over the row's own "编辑" that would otherwise close it.
function closeEdits(keep) {
  document.querySelectorAll("details.edit[open]").forEach(function (d) {
    if (!d.contains(keep)) d.open = false;
  });
}
document.addEventListener("click", function (e) { closeEdits(e.target); });
document.addEventListener("keydown", function (e) { if (e.key === "Escape") closeEdits(null); });
// "返回上一页" on an error page: the browser's own back when the page before is in its history,
// so a refused form comes back with what was typed (the link's address reloads it empty).
document.addEventListener("click", function (e) {
  var link = e.target.closest && e.target.closest("a[data-back]");
  if (link && window.history.length > 1 && document.referrer &&
      new URL(document.referrer).pathname === new URL(link.href).pathname) {
    e.preventDefault();
    window.history.back();
  }
});
