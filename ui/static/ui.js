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
