// The access matrix page's draft comparison: POST /api/policy/diff with the
// pasted configuration, then list who gains and who loses what (or where
// the draft does not load). Built with textContent only: the answer names
// logins and models a config author wrote.
(() => {
  const btn = document.getElementById("compare");
  if (!btn) return;
  const draft = document.getElementById("draft");
  const out = document.getElementById("diff-result");
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const show = (res) => {
    out.replaceChildren();
    if (!res.ok) {
      out.append(el("p", "error", "The draft does not load:"));
      const ul = el("ul", "problems");
      for (const p of res.problems || []) {
        ul.append(el("li", "", (p.line ? p.line + ":" + p.col + ": " : "") + p.message));
      }
      out.append(ul);
      return;
    }
    if (res.equal) {
      out.append(el("p", "ok", "No access changes: everyone keeps exactly the roles and models they have."));
      return;
    }
    const table = el("table", "data");
    const head = el("tr");
    for (const h of ["Callers", "Role", "Gains", "Loses"]) head.append(el("th", "", h));
    const thead = el("thead");
    thead.append(head);
    table.append(thead);
    const body = el("tbody");
    for (const c of res.diff.classes) {
      const tr = el("tr", "diff-class");
      tr.dataset.class = c.class;
      tr.append(el("td", "", c.class));
      tr.append(el("td", "diff-role", c.old_role === c.new_role ? c.new_role : c.old_role + " → " + c.new_role));
      tr.append(el("td", "diff-gains", (c.gains || []).join(", ")));
      tr.append(el("td", "diff-losses", (c.losses || []).join(", ")));
      body.append(tr);
    }
    table.append(body);
    out.append(table);
  };
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    out.replaceChildren(el("p", "muted", "Comparing…"));
    try {
      const resp = await fetch("/api/policy/diff", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({config: draft.value}),
      });
      if (!resp.ok) {
        out.replaceChildren(el("p", "error", "The gateway answered " + resp.status + ": " + (await resp.text())));
        return;
      }
      show(await resp.json());
    } catch (e) {
      out.replaceChildren(el("p", "error", "The comparison failed: " + e));
    } finally {
      btn.disabled = false;
    }
  });
})();
