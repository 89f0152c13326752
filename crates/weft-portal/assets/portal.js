// weft portal: what every interactive page shares. Calls go to this commons' own APIs with
// the session cookie; changes carry the CSRF value (the `csrftoken` cookie, which /_status
// sets), as Gen3's portals send it.
"use strict";
(function () {
  function cookie(name) {
    const m = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return m ? decodeURIComponent(m[1]) : null;
  }
  async function csrf() {
    let t = cookie("csrftoken");
    if (!t) {
      const r = await fetch("/_status", { credentials: "same-origin" });
      const body = await r.json();
      t = body.csrf || cookie("csrftoken");
    }
    return t;
  }
  // A call to an API: `body` is sent as is (a string or a Blob) or as JSON.
  async function api(method, path, body, contentType) {
    const headers = { Accept: "application/json" };
    if (method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = await csrf();
    let payload = body;
    if (body !== undefined && typeof body !== "string" && !(body instanceof Blob)) {
      payload = JSON.stringify(body);
      contentType = contentType || "application/json";
    }
    if (contentType) headers["Content-Type"] = contentType;
    const r = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    const text = await r.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
    return { status: r.status, ok: r.ok, json, text };
  }
  // A download the browser saves as `name`.
  function save(name, data, type) {
    const blob = data instanceof Blob ? data : new Blob([data], { type: type || "application/octet-stream" });
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = name;
    a.textContent = name;
    a.hidden = true;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
  // An element with attributes and children.
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }
  function message(resp) {
    const j = resp.json;
    if (j && typeof j === "object") {
      return j.error && (j.error.message || j.error) || j.message || j.detail || resp.text;
    }
    return resp.text || ("HTTP " + resp.status);
  }
  window.weft = { api, save, el, cookie, csrf, message };
})();
