// Small progressive enhancements; every page works without them.
document.addEventListener("click", (ev) => {
  // Copy buttons next to setup snippets.
  const btn = ev.target.closest("button[data-copy]");
  if (!btn) return;
  const el = document.getElementById(btn.dataset.copy);
  if (!el) return;
  navigator.clipboard.writeText(el.textContent).then(() => {
    btn.textContent = "Copied";
    setTimeout(() => { btn.textContent = "Copy"; }, 1500);
  });
});
document.addEventListener("change", (ev) => {
  // Filter forms apply as soon as a select changes.
  const sel = ev.target.closest("form.filters select");
  if (sel) sel.form.requestSubmit();
});
document.addEventListener("toggle", (ev) => {
  // A session loads its requests the first time it is opened.
  const d = ev.target;
  if (!(d instanceof HTMLDetailsElement) || !d.open || !d.dataset.src || d.dataset.loaded) return;
  d.dataset.loaded = "1";
  const box = d.querySelector(".session-requests");
  fetch(d.dataset.src, { credentials: "same-origin" })
    .then((r) => r.ok ? r.text() : Promise.reject(new Error(r.status)))
    .then((html) => { box.innerHTML = html; })
    .catch((e) => { box.textContent = "Could not load the requests (" + e.message + ")."; });
}, true);
