// weft portal, project page: upload a TSV, CSV or JSON file of records to the project through
// sheepdog's API: a dry run first (`_dry_run`), each entity's errors shown at its row and
// property; then the submission. Large files go in chunks of rows, with a progress bar.
"use strict";
(function () {
  const { api, el, message } = window.weft;
  const form = document.getElementById("upload");
  const fileInput = document.getElementById("file");
  const typeSelect = document.getElementById("node-type");
  const submitButton = document.getElementById("submit");
  const dryButton = document.getElementById("dry-run");
  const progress = document.getElementById("progress");
  const status = document.getElementById("upload-status");
  const errors = document.getElementById("upload-errors");
  const base = "/api/v0/submission/" + encodeURIComponent(form.dataset.program) + "/" + encodeURIComponent(form.dataset.project);
  const ROWS_PER_CHUNK = 2000;
  let prepared = null;

  function say(text, cls) {
    status.textContent = text;
    status.className = cls || "";
  }

  // The file as chunks: each `{body, contentType, firstRow}` where firstRow is the file row
  // (1-based, the header being row 1 of a TSV) of the chunk's first entity.
  async function chunks(file) {
    const text = await file.text();
    const name = file.name.toLowerCase();
    const chosen = typeSelect.value;
    if (name.endsWith(".json") || /^\s*[[{]/.test(text)) {
      let docs;
      try { docs = JSON.parse(text); } catch (e) { throw new Error("The file is not valid JSON: " + e.message); }
      if (!Array.isArray(docs)) docs = [docs];
      if (chosen) docs = docs.map((d) => (d && typeof d === "object" && !d.type ? { ...d, type: chosen } : d));
      const out = [];
      for (let i = 0; i < docs.length; i += ROWS_PER_CHUNK) {
        out.push({ body: JSON.stringify(docs.slice(i, i + ROWS_PER_CHUNK)), contentType: "application/json", firstRow: i + 1, rows: Math.min(ROWS_PER_CHUNK, docs.length - i) });
      }
      return out;
    }
    const sep = name.endsWith(".csv") ? "," : "\t";
    const lines = text.split(/\r?\n/);
    while (lines.length && lines[lines.length - 1].trim() === "") lines.pop();
    if (lines.length < 2) throw new Error("The file has a header and no rows.");
    let header = lines[0];
    let rows = lines.slice(1);
    const columns = header.split(sep).map((c) => c.trim());
    if (!columns.includes("type")) {
      if (!chosen) throw new Error("The file has no `type` column: choose its node type.");
      header = "type" + sep + header;
      rows = rows.map((r) => chosen + sep + r);
    }
    const contentType = sep === "," ? "text/csv" : "text/tab-separated-values";
    const out = [];
    for (let i = 0; i < rows.length; i += ROWS_PER_CHUNK) {
      const part = rows.slice(i, i + ROWS_PER_CHUNK);
      out.push({ body: header + "\n" + part.join("\n") + "\n", contentType, firstRow: i + 2, rows: part.length });
    }
    return out;
  }

  function showErrors(found) {
    const tbody = errors.querySelector("tbody");
    tbody.replaceChildren();
    for (const f of found) {
      tbody.append(el("tr", { class: "entity-error" },
        el("td", { text: String(f.row) }),
        el("td", { text: f.type || "" }),
        el("td", {}, el("code", { text: f.keys })),
        el("td", { text: f.message })));
    }
    errors.hidden = found.length === 0;
  }

  // Send every chunk to `path`; the errors per row, and the counts.
  async function run(path, parts, label) {
    progress.hidden = false;
    progress.value = 0;
    const found = [];
    let created = 0, updated = 0, entities = 0;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      say(label + ": part " + (i + 1) + " of " + parts.length + "…");
      const r = await api("PUT", path, p.body, p.contentType);
      const j = r.json || {};
      if (!j.entities && !r.ok) {
        found.push({ row: p.firstRow + "–" + (p.firstRow + p.rows - 1), type: "", keys: "", message: message(r) });
      }
      (j.entities || []).forEach((e, k) => {
        entities += 1;
        for (const err of e.errors || []) {
          found.push({ row: p.firstRow + k, type: e.type, keys: (err.keys || []).join(", "), message: err.message });
        }
      });
      for (const t of j.transactional_errors || []) {
        found.push({ row: "", type: "", keys: "", message: typeof t === "string" ? t : (t.message || JSON.stringify(t)) });
      }
      created += j.created_entity_count || 0;
      updated += j.updated_entity_count || 0;
      progress.value = Math.round(((i + 1) / parts.length) * 100);
    }
    return { found, created, updated, entities };
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    submitButton.disabled = true;
    prepared = null;
    showErrors([]);
    const file = fileInput.files[0];
    if (!file) { say("Choose a file first.", "error"); return; }
    let parts;
    try { parts = await chunks(file); } catch (e) { say(e.message, "error"); return; }
    dryButton.disabled = true;
    const res = await run(base + "/_dry_run", parts, "Checking");
    dryButton.disabled = false;
    showErrors(res.found);
    if (res.found.length) {
      say("The dry run found " + res.found.length + " error(s) in " + res.entities + " record(s); nothing was submitted. Fix the rows below and check again.", "error");
      return;
    }
    prepared = parts;
    submitButton.disabled = false;
    say("The dry run passed: " + res.entities + " record(s) would be created or updated. Submit them now.", "ok");
  });

  submitButton.addEventListener("click", async () => {
    if (!prepared) return;
    submitButton.disabled = true;
    dryButton.disabled = true;
    const res = await run(base, prepared, "Submitting");
    dryButton.disabled = false;
    prepared = null;
    showErrors(res.found);
    if (res.found.length) {
      say("The submission was refused: " + res.found.length + " error(s).", "error");
      return;
    }
    say("Submitted: " + res.created + " created, " + res.updated + " updated.", "ok");
  });

  fileInput.addEventListener("change", () => { prepared = null; submitButton.disabled = true; });
})();
