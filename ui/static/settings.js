// The Settings page's editor: line numbers, checks as you type (debounced,
// through POST /api/config/validate), every problem located and one click
// away, and saving through PUT /api/config with the hash of the text it
// started from, so a concurrent change is never overwritten unseen.
(() => {
  const root = document.getElementById("settings");
  if (!root) return;
  const ta = document.getElementById("config");
  const gutter = document.getElementById("gutter");
  const status = document.getElementById("status");
  const dirtyMark = document.getElementById("dirty");
  const banner = document.getElementById("banner");
  const list = document.getElementById("problems");
  const plain = document.getElementById("validate-text");
  const saveBtn = document.getElementById("save");
  const editable = root.dataset.editable === "true";
  let hash = root.dataset.hash;
  let saved = ta.value;
  let marks = new Map(); // line -> {cls, title}
  let seq = 0;
  let timer = 0;
  let lines = 0;

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  function renderGutter() {
    const n = ta.value.split("\n").length;
    if (n === lines && !renderGutter.force) return;
    renderGutter.force = false;
    lines = n;
    const frag = document.createDocumentFragment();
    for (let i = 1; i <= n; i++) {
      const s = el("span", "", String(i));
      const m = marks.get(i);
      if (m) {
        s.className = m.cls;
        s.title = m.title;
      }
      frag.appendChild(s);
    }
    gutter.replaceChildren(frag);
    gutter.scrollTop = ta.scrollTop;
  }

  function setDirty() {
    const dirty = ta.value !== saved;
    dirtyMark.hidden = !dirty;
    root.dataset.dirty = dirty ? "true" : "false";
  }

  // offsetOf is the textarea offset of a 1-based line and column.
  function offsetOf(line, col) {
    const ls = ta.value.split("\n");
    let off = 0;
    for (let i = 0; i < Math.min(line - 1, ls.length); i++) off += ls[i].length + 1;
    return off + Math.max(0, Math.min(col - 1, (ls[line - 1] || "").length));
  }

  function goTo(line, col) {
    const off = offsetOf(line, col || 1);
    ta.focus();
    ta.setSelectionRange(off, off);
    const lh = parseFloat(getComputedStyle(ta).lineHeight) || 20;
    ta.scrollTop = Math.max(0, (line - 4) * lh);
    gutter.scrollTop = ta.scrollTop;
  }

  function problemItem(p, cls) {
    const li = el("li", cls);
    li.dataset.code = p.code || "";
    if (p.line > 0) {
      li.dataset.line = p.line;
      li.dataset.col = p.col;
      const b = el("button", "loc", p.file ? `${p.file}:${p.line}:${p.col}` : `${p.line}:${p.col}`);
      b.type = "button";
      if (!p.file) {
        b.addEventListener("click", () => goTo(p.line, p.col));
      } else {
        b.disabled = true;
        b.title = "in a Rego module, not in this file";
      }
      li.appendChild(b);
    }
    li.appendChild(el("span", "msg", p.message));
    return li;
  }

  // show lists problems and warnings and marks their lines.
  function show(problems, warnings, okText) {
    marks = new Map();
    list.replaceChildren();
    for (const p of problems) {
      list.appendChild(problemItem(p, "bad"));
      if (p.line > 0 && !p.file) marks.set(p.line, { cls: "bad", title: p.message });
    }
    for (const w of warnings || []) {
      list.appendChild(problemItem(w, "warn"));
      if (w.line > 0 && !marks.has(w.line)) marks.set(w.line, { cls: "warn", title: w.message });
    }
    if (problems.length === 0) list.prepend(el("li", "ok", okText || "No problems."));
    root.dataset.problems = String(problems.length);
    renderGutter.force = true;
    renderGutter();
  }

  function showBanner(cls, text, buttons) {
    banner.className = "banner " + cls;
    banner.replaceChildren(el("span", "", text));
    for (const [label, fn, id] of buttons || []) {
      const b = el("button", "", label);
      b.type = "button";
      if (id) b.id = id;
      b.addEventListener("click", fn);
      banner.appendChild(el("br"));
      banner.appendChild(b);
    }
    banner.hidden = false;
  }

  async function postJSON(method, url, body) {
    const r = await fetch(url, {
      method,
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    let j = {};
    try {
      j = await r.json();
    } catch (e) {
      j = { error: `the gateway answered ${r.status} without JSON` };
    }
    return [r, j];
  }

  async function validate() {
    const my = ++seq;
    status.textContent = "Checking…";
    try {
      const [r, j] = await postJSON("POST", "/api/config/validate", { config: ta.value });
      if (my !== seq) return; // a newer check is on its way
      if (!r.ok) {
        status.textContent = j.error || `check failed (${r.status})`;
        return;
      }
      const n = j.problems.length;
      show(j.problems, j.warnings, j.summary ?
        `No problems: ${j.summary.providers} providers, ${j.summary.models} models, ${j.summary.grant_sets} grant sets, ${j.summary.hooks} hooks.` : "");
      plain.textContent = j.text;
      status.textContent = n === 0 ? "Checked: no problems" : `${n} problem${n > 1 ? "s" : ""}`;
      root.dataset.checked = String(my);
    } catch (e) {
      if (my === seq) status.textContent = "The check could not reach the gateway.";
    }
  }

  async function save() {
    if (!editable) return;
    clearTimeout(timer);
    saveBtn.disabled = true;
    status.textContent = "Saving…";
    const text = ta.value;
    try {
      const [r, j] = await postJSON("PUT", "/api/config", { config: text, hash });
      if (r.ok) {
        hash = j.new_hash;
        saved = text;
        setDirty();
        show([], j.warnings, "Saved.");
        showBanner("ok", j.unchanged ? "Saved: nothing changed, the running configuration is this text." :
          "Saved and applied: the new configuration is running now.");
        status.textContent = "Saved";
        root.dataset.saved = hash;
        return;
      }
      status.textContent = `Not saved (${r.status})`;
      // A save cancels the pending check: run it, unless the refusal
      // lists the problems itself.
      if (!(j.problems && j.problems.length)) validate().then(() => { status.textContent = `Not saved (${r.status})`; });
      if (j.code === "stale_hash") {
        showBanner("conflict",
          "Not saved: the configuration changed since you opened it (another admin saved it, or the file was edited). " +
          "Nothing was changed. Your edits are still here.", [
            ["Load the current version (discard my edits)", loadCurrent, "load-current"],
            ["Save mine over it", () => { hash = j.hash; save(); }, "overwrite"],
          ]);
        showConflictDiff();
        return;
      }
      if (j.problems && j.problems.length) {
        show(j.problems, []);
        plain.textContent = j.text || "";
      }
      showBanner("bad", "Not saved: " + (j.error || `the gateway answered ${r.status}`));
    } catch (e) {
      status.textContent = "The save could not reach the gateway; nothing was changed.";
    } finally {
      saveBtn.disabled = !editable;
    }
  }

  // lineDiff compares two texts line by line (longest common subsequence)
  // and returns [op, line] pairs: " " both, "-" only in a, "+" only in b;
  // null when they are too long to compare here.
  function lineDiff(a, b) {
    const n = a.length, m = b.length;
    if (n > 3000 || m > 3000) return null;
    const dp = Array.from({ length: n + 1 }, () => new Uint16Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
      }
    }
    const out = [];
    let i = 0, j = 0;
    while (i < n && j < m) {
      if (a[i] === b[j]) { out.push([" ", a[i]]); i++; j++; }
      else if (dp[i + 1][j] >= dp[i][j + 1]) out.push(["-", a[i++]]);
      else out.push(["+", b[j++]]);
    }
    while (i < n) out.push(["-", a[i++]]);
    while (j < m) out.push(["+", b[j++]]);
    return out;
  }

  // showConflictDiff adds to the banner what differs between the file as
  // it is now and the text in the editor, with a line of context.
  async function showConflictDiff() {
    const r = await fetch("/api/config", { credentials: "same-origin" });
    if (!r.ok) return;
    const j = await r.json();
    const d = lineDiff(j.config.split("\n"), ta.value.split("\n"));
    if (!d) return;
    const pre = el("pre", "diff");
    pre.id = "conflict-diff";
    let last = -2;
    d.forEach(([op, line], k) => {
      const near = op !== " " || (d[k - 1] && d[k - 1][0] !== " ") || (d[k + 1] && d[k + 1][0] !== " ");
      if (!near) return;
      if (last >= 0 && k > last + 1) pre.appendChild(el("span", "gap", "…\n"));
      last = k;
      pre.appendChild(el("span", op === "-" ? "del" : op === "+" ? "add" : "", `${op} ${line}\n`));
    });
    banner.appendChild(el("p", "", "What differs: lines marked − are in the file now, lines marked + are yours."));
    banner.appendChild(pre);
  }

  async function loadCurrent() {
    const r = await fetch("/api/config", { credentials: "same-origin" });
    const j = await r.json();
    if (!r.ok) {
      showBanner("bad", j.error || `could not load the configuration (${r.status})`);
      return;
    }
    ta.value = j.config;
    hash = j.hash;
    saved = j.config;
    setDirty();
    banner.hidden = true;
    renderGutter.force = true;
    renderGutter();
    validate();
  }

  ta.addEventListener("scroll", () => { gutter.scrollTop = ta.scrollTop; });
  ta.addEventListener("input", () => {
    renderGutter();
    setDirty();
    // What was shown is about the text before this edit.
    banner.hidden = true;
    banner.className = "banner";
    root.dataset.problems = "";
    status.textContent = "Edited";
    list.replaceChildren(el("li", "muted", "Checking…"));
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  });
  ta.addEventListener("keydown", (ev) => {
    if (ev.key === "Tab" && !ev.shiftKey && !ev.ctrlKey && !ev.metaKey) {
      // A tab indents instead of leaving the editor.
      ev.preventDefault();
      ta.setRangeText("\t", ta.selectionStart, ta.selectionEnd, "end");
      ta.dispatchEvent(new Event("input"));
    }
  });
  document.addEventListener("keydown", (ev) => {
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "s") {
      ev.preventDefault();
      save();
    }
  });
  document.getElementById("check").addEventListener("click", () => { clearTimeout(timer); validate(); });
  saveBtn.addEventListener("click", save);
  window.addEventListener("beforeunload", (ev) => {
    if (ta.value !== saved) ev.preventDefault();
  });

  renderGutter();
  setDirty();
  validate();
  const m = /^#L(\d+)$/.exec(location.hash);
  if (m) goTo(parseInt(m[1], 10), 1);
})();
