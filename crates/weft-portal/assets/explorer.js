// weft portal, explorer: facets (checkbox lists with counts, numeric ranges, a search over
// each list), charts and a paged table over guppy's API (/guppy/graphql), with downloads
// through /guppy/download, and a manifest exported to the workspace (/manifests/). Filters
// are guppy's filter language, built as Gen3's portal builds them: each facet an IN, each
// range a >= and a <=, all inside one AND.
"use strict";
(function () {
  const { api, save, el, message } = window.weft;
  const config = JSON.parse(document.getElementById("explorer-config").textContent);
  const tabs = config.tabs;
  const tier = config.tier || {};
  const PAGE = 20;
  const MAX_AUTO_BUCKETS = 30;
  const facetsBox = document.getElementById("facets");
  const chartsBox = document.getElementById("charts");
  const totalBox = document.getElementById("total");
  const rowsTable = document.getElementById("rows");
  const pageLabel = document.getElementById("page");
  const exportButton = document.getElementById("export-workspace"); // absent without the workspace page
  const state = tabs.map(() => ({ values: {}, ranges: {}, offset: 0, facets: null, search: {} }));
  let current = 0;
  let seq = 0;

  function tab() { return tabs[current]; }
  function st() { return state[current]; }

  function filterOf(s) {
    const parts = [];
    for (const [f, vals] of Object.entries(s.values)) {
      if (vals.length) parts.push({ IN: { [f]: vals } });
    }
    for (const [f, [lo, hi]] of Object.entries(s.ranges)) {
      if (lo !== null && lo !== "") parts.push({ ">=": { [f]: Number(lo) } });
      if (hi !== null && hi !== "") parts.push({ "<=": { [f]: Number(hi) } });
    }
    return parts.length ? { AND: parts } : {};
  }

  async function graphql(query, variables) {
    const r = await api("POST", "/guppy/graphql", { query, variables });
    if (!r.ok || (r.json && r.json.errors)) {
      const errs = r.json && r.json.errors;
      throw new Error(errs ? errs.map((e) => e.message || e).join("; ") : message(r));
    }
    return r.json.data;
  }

  function countText(n) {
    if (n === -1) return "fewer than " + (tier.limit || 1000);
    return Number(n).toLocaleString("en");
  }

  // The facets to show: configured ones, or automatic ones with a useful number of values.
  function shownFacets(t, aggs) {
    return t.facets.filter((f) => {
      if (!f.auto || f.number) return !f.number || aggs[f.field];
      const h = aggs[f.field] && aggs[f.field].histogram;
      return h && h.length > 1 && h.length <= MAX_AUTO_BUCKETS;
    });
  }

  async function refresh() {
    const t = tab();
    const s = st();
    const mine = ++seq;
    const started = performance.now();
    const filter = filterOf(s);
    const fields = t.facets.map((f) => f.number
      ? f.field + " { histogram { key min max count } }"
      : f.field + " { histogram { key count } }").join(" ");
    const aggQuery = "query ($filter: JSON) { _aggregation { " + t.type +
      " (filter: $filter, filterSelf: false, accessibility: all) { _totalCount " + fields + " } } }";
    const cols = t.table.join(" ");
    const rowsQuery = "query ($filter: JSON) { " + t.type + " (accessibility: accessible, offset: " + s.offset +
      ", first: " + PAGE + ", filter: $filter) { " + cols + " } _aggregation { " + t.type +
      " (filter: $filter, accessibility: accessible) { _totalCount } } }";
    let aggs, rows;
    try {
      [aggs, rows] = await Promise.all([graphql(aggQuery, { filter }), graphql(rowsQuery, { filter })]);
    } catch (e) {
      if (mine !== seq) return;
      totalBox.textContent = "The explorer could not load: " + e.message;
      totalBox.className = "error";
      return;
    }
    if (mine !== seq) return;
    const a = aggs._aggregation[t.type];
    if (!s.facets) s.facets = shownFacets(t, a);
    totalBox.className = "";
    const noun = t.title.toLowerCase() + (a._totalCount === 1 ? "" : "s");
    totalBox.textContent = countText(a._totalCount) + " " + noun + " match" +
      (Object.keys(filter).length ? " the filters." : ".");
    drawFacets(t, s, a);
    drawCharts(t, s, a);
    const accessible = rows._aggregation[t.type]._totalCount;
    drawRows(t, s, rows[t.type] || [], accessible);
    document.body.dataset.redrawMs = String(Math.round(performance.now() - started));
    document.body.dataset.redraws = String(Number(document.body.dataset.redraws || 0) + 1);
  }

  function drawFacets(t, s, a) {
    facetsBox.replaceChildren();
    for (const f of s.facets) {
      const id = "f-" + f.field;
      const fs = el("fieldset", { class: "facet", "data-field": f.field }, el("legend", { text: label(f.field) }));
      if (f.number) {
        const b = (a[f.field].histogram || [])[0] || {};
        const [lo, hi] = s.ranges[f.field] || ["", ""];
        const min = el("input", { type: "number", id: id + "-min", value: lo, placeholder: b.min != null ? String(b.min) : "", step: "any", size: "8" });
        const max = el("input", { type: "number", id: id + "-max", value: hi, placeholder: b.max != null ? String(b.max) : "", step: "any", size: "8" });
        const apply = () => { s.ranges[f.field] = [min.value, max.value]; s.offset = 0; refresh(); };
        min.addEventListener("change", apply);
        max.addEventListener("change", apply);
        fs.append(el("div", { class: "range" },
          el("label", { for: id + "-min", text: "From" }), min,
          el("label", { for: id + "-max", text: "to" }), max));
      } else {
        const buckets = a[f.field].histogram || [];
        const chosen = s.values[f.field] || [];
        const query = s.search[f.field] || "";
        if (buckets.length > 8) {
          const search = el("input", { type: "search", id: id + "-search", value: query, "aria-label": "Search " + label(f.field) + " values", placeholder: "Search values" });
          search.addEventListener("input", () => { s.search[f.field] = search.value; drawFacets(t, s, a); document.getElementById(id + "-search").focus(); });
          fs.append(search);
        }
        const opts = el("div", { class: "opts" });
        const keys = new Set(buckets.map((b) => String(b.key)));
        const shown = buckets.concat(chosen.filter((v) => !keys.has(v)).map((v) => ({ key: v, count: 0 })));
        shown.forEach((b, i) => {
          const key = String(b.key);
          if (query && !key.toLowerCase().includes(query.toLowerCase())) return;
          const cid = id + "-" + i;
          const box = el("input", { type: "checkbox", id: cid, value: key, checked: chosen.includes(key) });
          box.addEventListener("change", () => {
            const now = new Set(s.values[f.field] || []);
            if (box.checked) now.add(key); else now.delete(key);
            s.values[f.field] = [...now];
            s.offset = 0;
            refresh();
          });
          opts.append(el("div", { class: "opt" },
            el("span", {}, box, " ", el("label", { for: cid, text: key })),
            el("span", { class: "count", text: countText(b.count) })));
        });
        fs.append(opts);
      }
      facetsBox.append(fs);
    }
  }

  const PALETTE = ["#1d4f73", "#b3471d", "#2e7d4f", "#6b4c9a", "#8a6d1d", "#1f6f78", "#a23b72", "#4d5b6a"];

  function drawCharts(t, s, a) {
    chartsBox.replaceChildren();
    let charts = t.charts;
    if (!charts.length) charts = s.facets.filter((f) => !f.number).slice(0, 2).map((f) => ({ field: f.field, kind: "bar" }));
    for (const c of charts) {
      const agg = a[c.field];
      if (!agg || !agg.histogram || agg.histogram[0] && agg.histogram[0].min !== undefined) continue;
      const buckets = agg.histogram.filter((b) => b.count !== 0).slice(0, 10);
      const fig = el("figure", { class: "chart", "data-field": c.field },
        el("h3", { text: label(c.field) }));
      fig.append(c.kind === "pie" ? pie(buckets, label(c.field)) : bars(buckets, label(c.field)));
      chartsBox.append(fig);
    }
  }

  const NS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function bars(buckets, title) {
    const w = 340, row = 22, h = Math.max(row, buckets.length * row);
    const max = Math.max(1, ...buckets.map((b) => Math.max(0, b.count)));
    const svg = svgEl("svg", { width: w, height: h, viewBox: "0 0 " + w + " " + h, role: "img", "aria-label": title + ": " + buckets.map((b) => b.key + " " + countText(b.count)).join(", ") });
    buckets.forEach((b, i) => {
      const y = i * row;
      const bw = b.count < 0 ? 4 : Math.max(2, Math.round((b.count / max) * 160));
      svg.append(svgEl("text", { x: 0, y: y + 15, class: "bar-label" }, String(b.key).slice(0, 18)));
      svg.append(svgEl("rect", { x: 130, y: y + 4, width: bw, height: row - 8, fill: PALETTE[0] }));
      svg.append(svgEl("text", { x: 136 + bw, y: y + 15, class: "bar-label" }, countText(b.count)));
    });
    return svg;
  }

  function pie(buckets, title) {
    const size = 160, r = 70, cx = 80, cy = 80;
    const total = buckets.reduce((n, b) => n + Math.max(0, b.count), 0) || 1;
    const svg = svgEl("svg", { width: 340, height: size, viewBox: "0 0 340 " + size, role: "img", "aria-label": title + ": " + buckets.map((b) => b.key + " " + countText(b.count)).join(", ") });
    let angle = -Math.PI / 2;
    buckets.forEach((b, i) => {
      const frac = Math.max(0, b.count) / total;
      const end = angle + frac * 2 * Math.PI;
      const large = frac > 0.5 ? 1 : 0;
      const x1 = cx + r * Math.cos(angle), y1 = cy + r * Math.sin(angle);
      const x2 = cx + r * Math.cos(end), y2 = cy + r * Math.sin(end);
      const d = frac >= 0.999 ? "M " + (cx - r) + " " + cy + " a " + r + " " + r + " 0 1 0 " + 2 * r + " 0 a " + r + " " + r + " 0 1 0 " + -2 * r + " 0"
        : "M " + cx + " " + cy + " L " + x1 + " " + y1 + " A " + r + " " + r + " 0 " + large + " 1 " + x2 + " " + y2 + " Z";
      svg.append(svgEl("path", { d, fill: PALETTE[i % PALETTE.length], stroke: "#fff" }));
      svg.append(svgEl("rect", { x: 175, y: 10 + i * 18, width: 10, height: 10, fill: PALETTE[i % PALETTE.length] }));
      svg.append(svgEl("text", { x: 190, y: 19 + i * 18, class: "bar-label" }, String(b.key).slice(0, 16) + " (" + countText(b.count) + ")"));
      angle = end;
    });
    return svg;
  }

  function drawRows(t, s, rows, accessible) {
    const thead = rowsTable.querySelector("thead");
    const tbody = rowsTable.querySelector("tbody");
    thead.replaceChildren(el("tr", {}, ...t.table.map((c) => el("th", { scope: "col", text: label(c) }))));
    tbody.replaceChildren();
    for (const r of rows) {
      tbody.append(el("tr", {}, ...t.table.map((c) => {
        const v = r[c];
        const text = v === null || v === undefined ? "" : Array.isArray(v) ? v.join(", ") : String(v);
        if (c === "object_id" && text) return el("td", {}, el("a", { href: "/files/" + text, text }));
        return el("td", { text });
      })));
    }
    const last = Math.min(s.offset + PAGE, accessible);
    pageLabel.textContent = accessible ? (s.offset + 1) + "–" + last + " of " + countText(accessible) + " you may read" : "No rows you may read.";
    document.getElementById("prev").disabled = s.offset === 0;
    document.getElementById("next").disabled = s.offset + PAGE >= accessible;
  }

  function label(field) {
    return field.replace(/^_/, "").replace(/_/g, " ");
  }

  async function download(kind) {
    const t = tab();
    const filter = filterOf(st());
    if (kind === "manifest") return manifest(t, filter);
    const r = await api("POST", "/guppy/download", { type: t.type, filter, fields: t.table, format: kind, accessibility: "accessible" });
    if (!r.ok) { totalBox.textContent = "Download failed: " + message(r); totalBox.className = "error"; return; }
    save(t.type + "." + kind, r.text, kind === "json" ? "application/json" : "text/tab-separated-values");
  }

  // The files of the filtered documents as manifest entries: `[{object_id, file_name,
  // file_size, md5sum}]`, read from the file index (this tab's, or the one holding this tab's
  // ids). Throws an Error saying why it could not.
  async function manifestEntries(t, filter) {
    const fileTab = fileTabOf(t);
    if (!fileTab) throw new Error("no file index links to " + t.title);
    let fileFilter = filter;
    if (fileTab !== t) {
      const ids = await api("POST", "/guppy/download", { type: t.type, filter, fields: [t.idField], accessibility: "accessible" });
      if (!ids.ok) throw new Error(message(ids));
      const values = (ids.json || []).map((d) => d[t.idField]).filter((v) => v);
      fileFilter = { AND: [{ IN: { [t.idField]: values } }] };
    }
    const fields = ["object_id", "file_name", "file_size", "md5sum"].filter((f) => fileTab.fields.includes(f));
    const r = await api("POST", "/guppy/download", { type: fileTab.type, filter: fileFilter, fields, accessibility: "accessible" });
    if (!r.ok) throw new Error(message(r));
    return (r.json || []).filter((d) => d.object_id);
  }

  function fileTabOf(t) {
    return t.hasObjectId ? t : tabs.find((x) => x.hasObjectId && x.fields.includes(t.idField));
  }

  function failed(what, e) {
    totalBox.textContent = what + " failed: " + e.message;
    totalBox.className = "error";
  }

  async function manifest(t, filter) {
    let entries;
    try { entries = await manifestEntries(t, filter); } catch (e) { failed("Manifest", e); return; }
    save("manifest.json", JSON.stringify(entries, null, 2), "application/json");
  }

  // The same manifest, stored by manifestservice (POST /manifests/), which places it in the
  // user's workspace under manifests/; then the workspace page.
  async function exportToWorkspace(button) {
    button.disabled = true;
    try {
      const entries = await manifestEntries(tab(), filterOf(st()));
      if (!entries.length) throw new Error("no file you may read matches the filters");
      const r = await api("POST", "/manifests/", entries);
      if (!r.ok || !r.json || !r.json.filename) throw new Error(message(r));
      location.assign("/workspace?exported=" + encodeURIComponent(r.json.filename));
    } catch (e) {
      failed("Export to workspace", e);
      button.disabled = false;
    }
  }

  function selectTab(i) {
    current = i;
    document.querySelectorAll("[role=tab]").forEach((b, k) => {
      b.setAttribute("aria-selected", k === i ? "true" : "false");
      b.tabIndex = k === i ? 0 : -1;
    });
    document.getElementById("explorer").setAttribute("aria-labelledby", "tab-" + i);
    const noFiles = !fileTabOf(tabs[i]);
    document.getElementById("download-manifest").hidden = noFiles;
    if (exportButton) exportButton.hidden = noFiles;
    refresh();
  }

  document.querySelectorAll("[role=tab]").forEach((b, i) => {
    b.addEventListener("click", () => selectTab(i));
    b.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const next = (i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length;
      selectTab(next);
      document.getElementById("tab-" + next).focus();
    });
  });
  document.getElementById("clear").addEventListener("click", () => {
    const s = st();
    s.values = {}; s.ranges = {}; s.offset = 0; s.search = {};
    refresh();
  });
  document.getElementById("prev").addEventListener("click", () => { st().offset = Math.max(0, st().offset - PAGE); refresh(); });
  document.getElementById("next").addEventListener("click", () => { st().offset += PAGE; refresh(); });
  document.getElementById("download-tsv").addEventListener("click", () => download("tsv"));
  document.getElementById("download-json").addEventListener("click", () => download("json"));
  document.getElementById("download-manifest").addEventListener("click", () => download("manifest"));
  if (exportButton) exportButton.addEventListener("click", () => exportToWorkspace(exportButton));
  if (tabs.length) selectTab(0);
})();
