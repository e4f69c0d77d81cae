// 护林 command-center console: live alerts (EventSource), the district map (SVG from the org
// boundaries), acknowledge through the incidents API. No build step, no CDN, no tile server.
// Everything shown comes from the Hulin APIs and is inserted as text, never as HTML.
(function () {
  "use strict";

  const SEVERITIES = { general: "一般", large: "较大", major: "重大", extraordinary: "特别重大" };
  const STATUSES = {
    reported: "待签收", acknowledged: "已签收", responding: "处置中", resolved: "已处置",
    closed: "已办结", false_alarm: "误报", overdue: "失联",
  };
  const LEVELS = ["村级", "乡镇", "区级", "森防指"];
  const ROLES = {
    command_center: "指挥中心", hq: "森防指", district_chief: "区级林长",
    township_chief: "乡镇林长", village_chief: "村级林长", admin: "管理员",
  };
  const SVG_NS = "http://www.w3.org/2000/svg";

  const state = {
    token: null, config: null, source: null, incidents: new Map(), project: null,
    seen: new Set(),
  };
  const $ = (id) => document.getElementById(id);

  function sevClass(severity) {
    return "sev-" + (SEVERITIES[severity] ? severity : "none");
  }

  async function api(path, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers = Object.assign({ Authorization: "Bearer " + state.token }, opts.headers);
    const res = await fetch(path, opts);
    let body = null;
    try { body = await res.json(); } catch (e) { body = null; }
    if (!res.ok) {
      const detail = body && body.detail ? body.detail : res.status + " " + res.statusText;
      const err = new Error(detail);
      err.status = res.status;
      throw err;
    }
    return body;
  }

  // ---- login ----------------------------------------------------------------------------------
  async function loadConfig() {
    const res = await fetch("/console/config");
    state.config = await res.json();
    if (state.config.dev_tokens) {
      const people = await (await fetch("/console/dev-people")).json();
      const select = $("demo-person");
      for (const p of people.people) {
        const opt = document.createElement("option");
        opt.value = p.id;
        opt.textContent = (ROLES[p.role] || p.role) + " · " + p.name + " · " + p.unit_name;
        select.appendChild(opt);
      }
      $("demo").hidden = false;
    }
  }

  function personFromToken(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload)).sub || "";
    } catch (e) {
      return "";
    }
  }

  async function login(token) {
    state.token = token.trim();
    $("login-error").textContent = "";
    try {
      const [units, recent] = await Promise.all([
        api("/v1/org/units"), api("/v1/alerts?limit=100"),
      ]);
      sessionStorage.setItem("hulin.token", state.token);
      $("login").hidden = true;
      $("app").hidden = false;
      $("who").hidden = false;
      $("who-name").textContent = personFromToken(state.token);
      drawMap(units);
      const list = recent.alerts.slice().reverse(); // oldest first, each goes on top
      for (const alert of list) addAlert(alert, false);
      openStream(recent.last_id);
    } catch (err) {
      state.token = null;
      sessionStorage.removeItem("hulin.token");
      $("login-error").textContent = "登录失败：" + err.message;
    }
  }

  function logout() {
    if (state.source) state.source.close();
    sessionStorage.removeItem("hulin.token");
    location.reload();
  }

  // ---- the stream -----------------------------------------------------------------------------
  function openStream(lastId) {
    const params = new URLSearchParams({ access_token: state.token });
    if (lastId && lastId !== "0") params.set("last_event_id", lastId);
    const source = new EventSource("/v1/alerts/stream?" + params.toString());
    state.source = source;
    source.onopen = () => setConn(true);
    source.onerror = () => setConn(false); // EventSource reconnects with Last-Event-ID itself
    source.onmessage = (ev) => {
      try { addAlert(JSON.parse(ev.data), true); } catch (e) { /* a malformed frame: skip */ }
    };
  }

  function setConn(on) {
    const el = $("conn");
    el.className = "conn " + (on ? "on" : "off");
    el.textContent = on ? "实时连接中" : "重新连接中…";
  }

  // ---- alerts ---------------------------------------------------------------------------------
  // Times in the district's own clock (China Standard Time), whatever the browser's zone.
  const TIME_FMT = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai", month: "2-digit", day: "2-digit", hour: "2-digit",
    minute: "2-digit", second: "2-digit", hour12: false,
  });

  function fmtTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso || "";
    return TIME_FMT.format(d);
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function addAlert(alert, fresh) {
    if (state.seen.has(alert.id)) return;
    state.seen.add(alert.id);
    if (alert.incident_id) trackIncident(alert);
    const li = el("li", "alert " + sevClass(alert.severity) + (alert.alarm ? "" : " news") +
      (fresh ? " fresh" : ""));
    li.dataset.id = alert.id;
    li.dataset.kind = alert.kind;
    li.dataset.alarm = String(!!alert.alarm);
    if (alert.incident_id) li.dataset.incidentId = alert.incident_id;
    li.appendChild(el("div", "title", alert.title));
    const meta = el("div", "meta");
    meta.appendChild(el("span", "time", fmtTime(alert.at)));
    meta.appendChild(el("span", "level", "层级：" + (LEVELS[alert.level] || alert.level)));
    if (alert.severity) {
      meta.appendChild(el("span", "severity", SEVERITIES[alert.severity] || alert.severity));
    }
    if (alert.incident_id && alert.alarm) {
      const status = el("span", "status", "");
      meta.appendChild(status);
      const ack = el("button", "ack", "签收");
      ack.type = "button";
      ack.addEventListener("click", () => acknowledge(alert.incident_id, ack));
      meta.appendChild(ack);
    }
    li.appendChild(meta);
    if (alert.message) li.appendChild(el("div", "message", alert.message));
    const list = $("alerts");
    list.insertBefore(li, list.firstChild);
    $("alert-count").textContent = "共 " + list.children.length + " 条";
    if (alert.incident_id) refreshIncident(alert.incident_id);
  }

  function trackIncident(alert) {
    const prev = state.incidents.get(alert.incident_id) || {};
    const next = Object.assign({}, prev, {
      id: alert.incident_id, lat: alert.lat, lon: alert.lon, severity: alert.severity,
      level: alert.level, title: alert.title,
    });
    // Status only moves forward with the stream (newer alerts have higher ids).
    if (!prev.statusFrom || Number(alert.id) > prev.statusFrom) {
      next.status = alert.status;
      next.statusFrom = Number(alert.id);
    }
    state.incidents.set(alert.incident_id, next);
  }

  function refreshIncident(incidentId) {
    const inc = state.incidents.get(incidentId);
    if (!inc) return;
    const done = inc.status && inc.status !== "reported";
    document.querySelectorAll('li.alert[data-incident-id="' + CSS.escape(incidentId) + '"]')
      .forEach((li) => {
        const status = li.querySelector(".status");
        if (status) {
          status.textContent = STATUSES[inc.status] || inc.status || "";
          status.className = "status " + (inc.status || "");
        }
        const ack = li.querySelector("button.ack");
        if (ack && done) { ack.disabled = true; ack.textContent = "已签收"; }
      });
    drawMarker(inc);
  }

  async function acknowledge(incidentId, button) {
    button.disabled = true;
    $("app-error").textContent = "";
    const base = state.config.incidents_base_url;
    try {
      await api(base + "/v1/incidents/" + encodeURIComponent(incidentId) + "/ack", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: "{}",
      });
      const inc = state.incidents.get(incidentId);
      if (inc && inc.status === "reported") inc.status = "acknowledged";
      refreshIncident(incidentId);
    } catch (err) {
      button.disabled = false;
      $("app-error").textContent = "签收失败：" + err.message;
    }
  }

  // ---- the map --------------------------------------------------------------------------------
  function ringsOf(geometry) {
    if (geometry.type === "Polygon") return geometry.coordinates;
    if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
    return [];
  }

  function drawMap(collection) {
    const svg = $("map");
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    let minLon = 180, maxLon = -180, minLat = 90, maxLat = -90;
    for (const f of collection.features) {
      for (const ring of ringsOf(f.geometry)) {
        for (const [lon, lat] of ring) {
          minLon = Math.min(minLon, lon); maxLon = Math.max(maxLon, lon);
          minLat = Math.min(minLat, lat); maxLat = Math.max(maxLat, lat);
        }
      }
    }
    const k = Math.cos(((minLat + maxLat) / 2) * Math.PI / 180);
    const scale = 1000 / Math.max((maxLon - minLon) * k, 1e-9);
    const pad = 20;
    state.project = (lon, lat) => [pad + (lon - minLon) * k * scale, pad + (maxLat - lat) * scale];
    const width = (maxLon - minLon) * k * scale + 2 * pad;
    const height = (maxLat - minLat) * scale + 2 * pad;
    svg.setAttribute("viewBox", "0 0 " + width.toFixed(1) + " " + height.toFixed(1));
    const order = { village: 0, township: 1, district: 2 };
    const features = collection.features.slice().sort(
      (a, b) => order[a.properties.level] - order[b.properties.level]);
    const shapes = document.createElementNS(SVG_NS, "g");
    const labels = document.createElementNS(SVG_NS, "g");
    for (const f of features) {
      const p = f.properties;
      if (p.level === "district") $("district-name").textContent = p.name;
      const d = ringsOf(f.geometry).map((ring) => "M" + ring.map(([lon, lat]) =>
        state.project(lon, lat).map((v) => v.toFixed(1)).join(",")).join("L") + "Z").join(" ");
      const path = document.createElementNS(SVG_NS, "path");
      path.setAttribute("d", d);
      path.setAttribute("class", "unit " + p.level);
      path.dataset.code = p.code;
      const title = document.createElementNS(SVG_NS, "title");
      title.textContent = p.name + "（" + p.code + "）";
      path.appendChild(title);
      shapes.appendChild(path);
      if (p.level !== "district" && p.label_point) {
        const [x, y] = state.project(p.label_point[0], p.label_point[1]);
        const text = document.createElementNS(SVG_NS, "text");
        text.setAttribute("x", x.toFixed(1));
        text.setAttribute("y", (p.level === "township" ? y - 18 : y).toFixed(1));
        text.setAttribute("class", "label " + p.level);
        text.textContent = p.name;
        labels.appendChild(text);
      }
    }
    const markers = document.createElementNS(SVG_NS, "g");
    markers.setAttribute("id", "markers");
    svg.appendChild(shapes);
    svg.appendChild(labels);
    svg.appendChild(markers);
    for (const inc of state.incidents.values()) drawMarker(inc);
  }

  function drawMarker(inc) {
    if (!state.project || inc.lat === null || inc.lat === undefined) return;
    const layer = $("markers");
    if (!layer) return;
    let dot = layer.querySelector('[data-incident-id="' + CSS.escape(inc.id) + '"]');
    if (!dot) {
      dot = document.createElementNS(SVG_NS, "circle");
      dot.dataset.incidentId = inc.id;
      dot.appendChild(document.createElementNS(SVG_NS, "title"));
      layer.appendChild(dot);
    }
    const [x, y] = state.project(inc.lon, inc.lat);
    dot.setAttribute("cx", x.toFixed(1));
    dot.setAttribute("cy", y.toFixed(1));
    dot.setAttribute("r", String(9 + 3 * (inc.level || 0)));
    const open = !inc.status || inc.status === "reported";
    dot.setAttribute("class", "marker " + sevClass(inc.severity) + (open ? " open" : " acked"));
    dot.firstChild.textContent = inc.title + " · " + (STATUSES[inc.status] || inc.status || "");
  }

  // ---- start ----------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", async () => {
    $("login-token").addEventListener("click", () => login($("token").value));
    $("login-demo").addEventListener("click", async () => {
      const person = $("demo-person").value;
      const res = await fetch("/console/dev-token?person=" + encodeURIComponent(person));
      if (!res.ok) { $("login-error").textContent = "无法获取演示令牌"; return; }
      login((await res.json()).token);
    });
    $("logout").addEventListener("click", logout);
    await loadConfig();
    const saved = sessionStorage.getItem("hulin.token");
    if (saved) login(saved);
  });
})();
