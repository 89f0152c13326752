// weft portal, workspace page: hatchery's API at /lw-workspace/ (the kinds from `options`,
// `launch`, `status` polled every 2 s while a workspace launches or terminates, `terminate`,
// the pay models) and manifestservice's list of the user's manifests (/manifests/). The
// notebook itself is served at /lw-workspace/proxy/ (JupyterLab at /lw-workspace/proxy/lab).
"use strict";
(function () {
  const { api, el, message } = window.weft;
  const $ = (id) => document.getElementById(id);
  const FAST = 2000;   // while Launching or Terminating
  const SLOW = 30000;  // while Running: an idle stop or a limit shows up
  const STEPS = {
    PodScheduled: "Scheduled",
    Initialized: "Started",
    ContainersReady: "Notebook ready",
    ProxyConnected: "Reachable from here",
  };
  const page = $("ws");
  const unavailableBox = $("ws-unavailable");
  const stateBox = $("ws-state");
  const stepsBox = $("ws-conditions");
  const messageBox = $("ws-message");
  const detailsBox = $("ws-details");
  const openLink = $("ws-open");
  const terminateButton = $("ws-terminate");
  const clearButton = $("ws-clear");
  const kindsBox = $("ws-kinds");
  const payBox = $("ws-paymodel");
  const manifestsBody = document.querySelector("#ws-manifests tbody");
  const exportedBox = $("ws-exported");
  let status = null;     // the last status answer
  let timer = null;
  let seq = 0;
  let launchedHere = false;
  let busy = false;      // a launch or terminate of this page is under way

  function setText(node, text, cls) {
    if (node.textContent !== text) node.textContent = text;
    if (cls !== undefined) node.className = cls;
  }

  // A refusal that concerns the whole page: workspaces off (404), no access (403), logged out
  // (401). True when handled.
  function unavailable(r) {
    let text = null;
    if (r.status === 404 && /not enabled/i.test(message(r))) {
      text = "Workspaces are not enabled on this commons.";
    } else if (r.status === 403) {
      text = "You may not use workspaces on this commons (it takes the jupyterhub access " +
        "permission on /workspace): ask its administrators for access. (" + message(r) + ")";
    } else if (r.status === 401) {
      text = "Your session has ended: log in again to use workspaces.";
    }
    if (text === null) return false;
    clearTimeout(timer);
    page.hidden = true;
    unavailableBox.hidden = false;
    setText(unavailableBox, text);
    return true;
  }

  function duration(ms) {
    if (ms === null || ms === undefined || ms < 0) return "no limit";
    const min = Math.round(ms / 60000);
    if (min < 60) return min + " min";
    const h = Math.floor(min / 60), m = min % 60;
    return h + " h" + (m ? " " + m + " min" : "");
  }

  function when(ms) {
    return new Date(ms).toISOString().replace(/(\.\d+)?Z$/, "").replace("T", " ");
  }

  function money(n) {
    return Number(n || 0).toFixed(2);
  }

  // ---- status

  async function refresh() {
    clearTimeout(timer);
    const mine = ++seq;
    const r = await api("GET", "/lw-workspace/status");
    if (mine !== seq) return;
    if (!r.ok || !r.json) {
      if (unavailable(r)) return;
      setText(stateBox, "The workspace's status could not be read: " + message(r), "error");
      timer = setTimeout(refresh, SLOW);
      return;
    }
    const before = status && status.status;
    status = r.json;
    drawStatus(before);
    const s = status.status;
    if (s === "Launching" || s === "Terminating") timer = setTimeout(refresh, FAST);
    else if (s === "Running") timer = setTimeout(refresh, SLOW);
  }

  function drawStatus(before) {
    const s = status.status;
    const kind = status.kind ? status.kind : "Your workspace";
    document.body.dataset.workspace = s;
    let text, cls = "";
    switch (s) {
      case "Not Found": text = "No workspace is running. Choose a kind below to launch one."; break;
      case "Launching": text = "Launching " + kind + "… (checked every 2 seconds)"; break;
      case "Running": text = kind + " is running."; cls = "ok"; break;
      case "Terminating": text = "Terminating " + kind + "…"; break;
      case "Stopped": text = kind + " stopped."; break;
      case "Errored": text = kind + " failed to start."; cls = "error"; break;
      default: text = "Status: " + s;
    }
    setText(stateBox, text, cls);

    const steps = (status.conditions || []).filter((c) => STEPS[c.type]);
    stepsBox.hidden = !(s === "Launching" && steps.length);
    if (!stepsBox.hidden) {
      stepsBox.replaceChildren(...steps.map((c) => {
        const done = c.status === "True";
        return el("li", { class: done ? "done" : "waiting" }, STEPS[c.type],
          el("span", { class: "visually-hidden", text: done ? " (done)" : " (waiting)" }));
      }));
    }

    messageBox.hidden = !status.message;
    setText(messageBox, status.message || "", "notice" + (s === "Errored" ? " error" : ""));

    const details = [];
    if (s === "Running") {
      if (status.lastActivityTime > 0) details.push("Last activity " + when(status.lastActivityTime) + " UTC");
      details.push(status.idleTimeLimit > 0
        ? "stops after " + duration(status.idleTimeLimit) + " without activity"
        : "no idle limit");
    }
    detailsBox.hidden = details.length === 0;
    setText(detailsBox, details.join("; ") + (details.length ? "." : ""));

    openLink.hidden = s !== "Running";
    terminateButton.hidden = !(s === "Running" || s === "Launching");
    terminateButton.textContent = s === "Launching" ? "Cancel launch" : "Terminate";
    terminateButton.disabled = busy;
    clearButton.hidden = !(s === "Stopped" || s === "Errored");
    clearButton.disabled = busy;
    for (const b of kindsBox.querySelectorAll("button[data-kind]")) b.disabled = busy || !launchable();
    if (s === "Running" && before !== "Running" && launchedHere) {
      launchedHere = false;
      openLink.focus();
    }
  }

  function launchable() {
    return status !== null && ["Not Found", "Stopped", "Errored"].includes(status.status);
  }

  async function terminate(button, label) {
    busy = true;
    button.disabled = true;
    setText(stateBox, label, "");
    const r = await api("POST", "/lw-workspace/terminate");
    busy = false;
    if (!r.ok && r.status !== 404) {
      if (unavailable(r)) return;
      await refresh();
      setText(stateBox, "Could not terminate: " + message(r), "error");
      return;
    }
    await refresh();
    const first = kindsBox.querySelector("button[data-kind]:not(:disabled)");
    if (first) first.focus();
    else $("ws-status-h").focus();
  }

  terminateButton.addEventListener("click", () => terminate(terminateButton, "Terminating…"));
  clearButton.addEventListener("click", () => terminate(clearButton, "Clearing…"));

  // ---- kinds

  async function loadKinds() {
    const r = await api("GET", "/lw-workspace/options");
    if (!r.ok) {
      if (unavailable(r)) return;
      kindsBox.replaceChildren(el("p", { class: "error", text: "The workspace kinds could not be read: " + message(r) }));
      return;
    }
    const kinds = Array.isArray(r.json) ? r.json : [];
    if (!kinds.length) {
      kindsBox.replaceChildren(el("p", { class: "muted", text: "There is no workspace kind you may launch." }));
      return;
    }
    kindsBox.replaceChildren(...kinds.map((k, i) => {
      const head = "ws-kind-" + i;
      const launch = el("button", {
        type: "button", "data-kind": k.id, "aria-describedby": head,
        disabled: busy || !launchable(), text: "Launch",
      });
      launch.addEventListener("click", () => startLaunch(k, launch));
      return el("div", { class: "card kind", "data-kind-name": k.name },
        el("h3", { id: head, text: k.name }),
        el("dl", { class: "record" },
          el("dt", { text: "CPU" }), el("dd", { text: String(k["cpu-limit"]) }),
          el("dt", { text: "Memory" }), el("dd", { text: String(k["memory-limit"]) }),
          el("dt", { text: "Idle limit" }), el("dd", { text: duration(k["idle-time-limit"]) })),
        el("p", {}, launch));
    }));
  }

  async function startLaunch(kind, button) {
    busy = true;
    launchedHere = true;
    for (const b of kindsBox.querySelectorAll("button[data-kind]")) b.disabled = true;
    setText(stateBox, "Launching " + kind.name + "…", "");
    const r = await api("POST", "/lw-workspace/launch?id=" + encodeURIComponent(kind.id));
    busy = false;
    if (!r.ok) {
      launchedHere = false;
      if (unavailable(r)) return;
      await refresh();
      setText(stateBox, "Could not launch " + kind.name + ": " + message(r), "error");
      button.focus();
      return;
    }
    await refresh();
    loadPayModel();
  }

  // ---- pay models

  async function loadPayModel() {
    const cur = await api("GET", "/lw-workspace/paymodels");
    if (cur.status === 403 || cur.status === 401) return;
    const all = await api("GET", "/lw-workspace/allpaymodels");
    const models = (all.ok && all.json && all.json.all_pay_models) || [];
    const parts = [];
    if (cur.ok && cur.json) {
      const p = cur.json;
      const used = Number(p["total-usage"] || 0), soft = Number(p["soft-limit"]), hard = Number(p["hard-limit"]);
      parts.push(el("table", { id: "ws-paymodel-current" },
        el("caption", { class: "visually-hidden", text: "Your current pay model" }),
        el("thead", {}, el("tr", {},
          ...["Type", "Usage", "Soft limit", "Hard limit", "Status"].map((h) =>
            el("th", { scope: "col", class: h === "Type" || h === "Status" ? null : "num", text: h })))),
        el("tbody", {}, el("tr", {},
          el("td", { text: p.workspace_type }),
          el("td", { class: "num", text: money(used) }),
          el("td", { class: "num", text: money(soft) }),
          el("td", { class: "num", text: money(hard) }),
          el("td", { text: p.request_status })))));
      if (used >= hard) {
        parts.push(el("p", { class: "notice error", role: "alert",
          text: "Your pay model has reached its hard limit: launches are refused, and a running workspace is stopped." }));
      } else if (used >= soft) {
        parts.push(el("p", { class: "notice error", role: "alert",
          text: "Your pay model is past its soft limit (" + money(soft) + "). At the hard limit (" + money(hard) +
            ") launches are refused and a running workspace is stopped." }));
      }
    } else if (cur.status === 404 && models.length) {
      parts.push(el("p", { class: "notice error", text: "You have pay models but none is current: launches are refused until you choose one." }));
    } else if (cur.status === 404) {
      parts.push(el("p", { class: "muted", text: "You have no pay model: workspaces you launch here are not metered." }));
    } else {
      parts.push(el("p", { class: "error", text: "The pay model could not be read: " + message(cur) }));
    }
    const others = models.filter((m) => !m.current_pay_model);
    if (others.length) {
      parts.push(el("p", { text: "Your other pay models (the current one cannot change while a workspace runs):" }));
      parts.push(el("ul", {}, ...others.map((m) => {
        const use = el("button", { type: "button", class: "secondary",
          "aria-label": "Make " + m.workspace_type + " (" + m.bmh_workspace_id + ") current", text: "Make current" });
        use.addEventListener("click", async () => {
          use.disabled = true;
          const r = await api("POST", "/lw-workspace/setpaymodel?id=" + encodeURIComponent(m.bmh_workspace_id));
          if (!r.ok) {
            use.disabled = false;
            setText(stateBox, "Could not change the pay model: " + message(r), "error");
            return;
          }
          await Promise.all([loadPayModel(), loadKinds()]);
        });
        return el("li", {}, m.workspace_type + " (usage " + money(m["total-usage"]) + " of " +
          money(m["hard-limit"]) + ", " + m.request_status + ") ", use);
      })));
    }
    payBox.replaceChildren(...parts);
  }

  // ---- manifests

  async function loadManifests() {
    const r = await api("GET", "/manifests/");
    manifestsBody.replaceChildren();
    if (!r.ok) {
      manifestsBody.append(el("tr", {}, el("td", { colspan: "2", class: "error", text: "Your manifests could not be read: " + message(r) })));
      return;
    }
    const list = ((r.json && r.json.manifests) || []).slice().reverse();
    if (!list.length) {
      manifestsBody.append(el("tr", {}, el("td", { colspan: "2", class: "muted", text: "You have no manifests yet." })));
      return;
    }
    const exported = new URLSearchParams(location.search).get("exported");
    for (const m of list) {
      const link = el("a", { href: "/manifests/file/" + encodeURIComponent(m.filename), text: m.filename });
      const name = el("td", {}, link);
      if (m.filename === exported) name.append(" ", el("span", { class: "tag", text: "new" }));
      manifestsBody.append(el("tr", { "data-filename": m.filename }, name,
        el("td", { text: m.last_modified + " UTC" })));
    }
  }

  const exported = new URLSearchParams(location.search).get("exported");
  if (exported) {
    exportedBox.hidden = false;
    exportedBox.textContent = "Exported " + exported + ". It is in your workspace as manifests/" + exported +
      " (a running workspace has it now, a new one gets it at launch).";
  }

  (async () => {
    await refresh();
    if (page.hidden) return;
    // `options` first: it gives a user without any pay model the default one
    await Promise.all([loadKinds().then(loadPayModel), loadManifests()]);
  })();
})();
