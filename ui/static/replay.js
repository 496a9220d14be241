// The Policy page's replay: POST /api/policy/replay with the pasted (or
// uploaded) candidate configuration, then list who gains and who loses
// which model over the recorded requests (or where the candidate does not
// load). Built with textContent only: the answer names logins and models.
(() => {
  const btn = document.getElementById("replay-run");
  if (!btn) return;
  const text = document.getElementById("replay-config");
  const file = document.getElementById("replay-file");
  const since = document.getElementById("replay-since");
  const out = document.getElementById("replay-result");
  const el = (tag, cls, t) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (t !== undefined) e.textContent = t;
    return e;
  };
  file.addEventListener("change", async () => {
    if (file.files.length > 0) text.value = await file.files[0].text();
  });
  const show = (res) => {
    out.replaceChildren();
    if (!res.ok) {
      out.append(el("p", "error", "The candidate does not load:"));
      const ul = el("ul", "problems");
      for (const p of res.problems || []) {
        ul.append(el("li", "", (p.line ? p.line + ":" + p.col + ": " : "") + p.message));
      }
      out.append(ul);
      return;
    }
    const rep = res.report;
    const summary = rep.replayed + " requests replayed, " + rep.skipped + " without a recorded decision input.";
    if (rep.changes.length === 0) {
      out.append(el("p", "ok", "No access changes. " + summary));
      return;
    }
    out.append(el("p", "", rep.changes.length + " access changes. " + summary));
    const table = el("table", "data");
    table.id = "replay-table";
    const head = el("tr");
    for (const h of ["Change", "User", "Model", "Requests"]) head.append(el("th", "", h));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    for (const c of rep.changes) {
      const tr = el("tr", "replay-change " + c.change);
      tr.append(el("td", "replay-kind", c.change));
      tr.append(el("td", "replay-user", c.user));
      tr.append(el("td", "replay-model", c.model));
      tr.append(el("td", "replay-requests", String(c.requests)));
      body.append(tr);
    }
    table.append(body);
    out.append(table);
  };
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    out.replaceChildren(el("p", "muted", "Replaying…"));
    try {
      const resp = await fetch("/api/policy/replay", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({config: text.value, since: since.value}),
      });
      if (!resp.ok) {
        out.replaceChildren(el("p", "error", "The gateway answered " + resp.status + ": " + (await resp.text())));
        return;
      }
      show(await resp.json());
    } catch (e) {
      out.replaceChildren(el("p", "error", "The replay failed: " + e));
    } finally {
      btn.disabled = false;
    }
  });
})();
