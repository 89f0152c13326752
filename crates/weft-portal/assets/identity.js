// weft portal, profile page: the user's API keys (fence's /user/credentials/api): list,
// create (downloaded once as credentials.json), revoke.
"use strict";
(function () {
  const { api, save, el, message } = window.weft;
  const status = document.getElementById("key-status");
  const tbody = document.querySelector("#keys tbody");

  function when(exp) {
    return exp ? new Date(exp * 1000).toISOString().replace(".000Z", "Z") : "";
  }

  async function list() {
    const r = await api("GET", "/user/credentials/api/");
    tbody.replaceChildren();
    if (!r.ok) {
      tbody.append(el("tr", {}, el("td", { colspan: "3", class: "error", text: message(r) })));
      return;
    }
    const keys = (r.json && r.json.jtis) || [];
    if (keys.length === 0) {
      tbody.append(el("tr", {}, el("td", { colspan: "3", class: "muted", text: "You have no API keys." })));
      return;
    }
    for (const k of keys) {
      const revoke = el("button", { type: "button", class: "secondary", "aria-label": "Revoke key " + k.jti, text: "Revoke" });
      revoke.addEventListener("click", async () => {
        revoke.disabled = true;
        const d = await api("DELETE", "/user/credentials/api/" + encodeURIComponent(k.jti));
        status.textContent = d.ok ? "Key " + k.jti + " revoked." : "Could not revoke: " + message(d);
        status.className = d.ok ? "ok" : "error";
        await list();
      });
      tbody.append(el("tr", { "data-jti": k.jti }, el("td", {}, el("code", { text: k.jti })), el("td", { text: when(k.exp) }), el("td", {}, revoke)));
    }
  }

  document.getElementById("create-key").addEventListener("click", async (ev) => {
    const b = ev.currentTarget;
    b.disabled = true;
    const r = await api("POST", "/user/credentials/api/", { scope: ["data", "user"] });
    b.disabled = false;
    if (!r.ok || !r.json || !r.json.api_key) {
      status.textContent = "Could not create a key: " + message(r);
      status.className = "error";
      return;
    }
    save("credentials.json", JSON.stringify({ api_key: r.json.api_key, key_id: r.json.key_id }, null, 2), "application/json");
    status.textContent = "Key " + r.json.key_id + " created and downloaded as credentials.json. It is not shown again.";
    status.className = "ok";
    await list();
  });

  list();
})();
