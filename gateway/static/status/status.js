/* The Smart Center screen: renders each snapshot that /status/events sends (EventSource reconnects by itself). */
(function () {
  "use strict";

  var STATE = { up: ["Aktif", "●"], degraded: ["Terganggu", "▲"], down: ["Tidak tersedia", "✖"] };
  var OVERALL = {
    ok: "Semua sumber aktif",
    degraded: "Sebagian sumber terganggu",
    down: "Semua sumber tidak tersedia",
  };
  var FACTS = {
    NAME: "Nama", BIRTH_DATE: "Tanggal lahir", SEX: "Jenis kelamin", REGION: "Desa", ALIVE: "Status hidup", NIK: "NIK",
  };
  var ERRORS = {
    FORBIDDEN: "tidak diizinkan untuk peran layar ini",
    WITHHELD: "tidak diizinkan untuk peran layar ini",
    SOURCE_UNAVAILABLE: "sumber data tidak tersedia",
    SOURCE_TIMEOUT: "sumber data terlalu lama menjawab",
    SOURCE_BAD_RESPONSE: "jawaban sumber data tidak valid",
  };
  var SVG = "http://www.w3.org/2000/svg";
  var TILE_W = 250, TILE_H = 150, GAP = 14;

  var previous = null;
  var selected = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function svgEl(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }

  function longDate(iso) {
    if (!iso) return "—";
    var parts = iso.split("-").map(Number);
    var d = new Date(Date.UTC(parts[0], parts[1] - 1, parts[2]));
    return new Intl.DateTimeFormat("id-ID", { weekday: "long", day: "numeric", month: "long", year: "numeric", timeZone: "UTC" }).format(d);
  }

  function clock(iso) {
    if (!iso) return "—";
    return new Intl.DateTimeFormat("id-ID", { hour: "2-digit", minute: "2-digit", second: "2-digit", timeZone: "Asia/Jakarta" })
      .format(new Date(iso)) + " WIB";
  }

  function problem(code) { return ERRORS[code] || "gagal dibaca (" + code + ")"; }

  function renderHeader(s) {
    var day = s.today ? longDate(s.today) : "hari ini belum diketahui";
    var how = s.todayFixed ? " (tanggal yang ditetapkan)" : " (hari sekolah terakhir dengan data kehadiran)";
    $("day").textContent = (s.regency ? "Kabupaten " + titleCase(s.regency.name) + " · " : "") + "Data per " + day + how;
    var overall = $("overall");
    overall.textContent = OVERALL[s.status] || s.status;
    overall.className = "overall " + s.status;
    $("updated").textContent = "Diperbarui " + clock(s.generatedAt);
  }

  function titleCase(name) {
    return name.toLowerCase().replace(/(^|\s)\S/g, function (c) { return c.toUpperCase(); }).replace(/^Kabupaten /, "");
  }

  function renderSources(s) {
    var list = $("sources");
    list.replaceChildren();
    s.sources.forEach(function (src) {
      var st = STATE[src.state] || [src.state, "?"];
      var li = el("li", { "class": "state-" + src.state, "data-source": src.name });
      li.append(el("span", { "class": "icon", "aria-hidden": "true" }, st[1]));
      var name = el("span", { "class": "name" }, src.name);
      name.append(el("span", { "class": "system" }, [src.agency, src.system].filter(Boolean).join(" · ")));
      li.append(name);
      li.append(el("span", { "class": "state" }, st[0]));
      list.append(li);
    });
    if (!s.sources.length) list.append(el("li", { "class": "muted" }, "Tidak ada sumber terdaftar."));
  }

  function renderMap(s) {
    var holder = $("map");
    holder.replaceChildren();
    if (!s.regions.length) {
      holder.append(el("p", { "class": "muted" }, s.errors.regions ? "Peta: " + problem(s.errors.regions) : "Memuat peta…"));
      return;
    }
    var cols = Math.max.apply(null, s.regions.map(function (r) { return r.col; })) + 1;
    var rows = Math.max.apply(null, s.regions.map(function (r) { return r.row; })) + 1;
    var width = cols * (TILE_W + GAP) + GAP, height = rows * (TILE_H + GAP) + GAP;
    var svg = svgEl("svg", { viewBox: "0 0 " + width + " " + height, role: "group",
      "aria-label": "Peta skematis " + s.regions.length + " kecamatan; kecamatan dengan peringatan ditandai" });
    s.regions.forEach(function (r) {
      var x = GAP + r.col * (TILE_W + GAP), y = GAP + r.row * (TILE_H + GAP);
      var label = r.name + ": " + (r.alerts ? r.alerts + " peringatan" : "tidak ada peringatan");
      var g = svgEl("g", { "class": "tile" + (r.alerts ? " alert" : ""), tabindex: "0", role: "button",
        "aria-label": label, "aria-pressed": String(selected === r.code), "data-code": r.code });
      g.append(svgEl("title", {}, label));
      g.append(svgEl("rect", { x: x, y: y, width: TILE_W, height: TILE_H, rx: 14 }));
      g.append(svgEl("text", { x: x + 16, y: y + 48 }, r.name));
      g.append(svgEl("text", { x: x + 16, y: y + 125, "class": "count" }, r.alerts ? "⚠ " + r.alerts : "–"));
      g.addEventListener("click", function () { choose(r.code, s); });
      g.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(r.code, s); }
      });
      svg.append(g);
    });
    holder.append(svg);
  }

  function choose(code, s) {
    selected = selected === code ? null : code;
    renderMap(s);
    renderAlerts(s);
    var tile = document.querySelector('.tile[data-code="' + code + '"]');
    if (tile) tile.focus();
    var region = s.regions.filter(function (r) { return r.code === code; })[0];
    if (region && selected) $("announce").textContent = region.name + ": " + (region.alerts || "tidak ada") + " peringatan";
  }

  function renderAlerts(s) {
    var names = {};
    s.regions.forEach(function (r) { names[r.code] = r.name; });
    var list = $("alerts");
    list.replaceChildren();
    list.parentNode.classList.toggle("quiet", !(s.alerts && s.alerts.length));
    var summary = $("peringatan-ringkas");
    if (s.alerts === null) {
      summary.textContent = s.errors.alerts ? "Peringatan: " + problem(s.errors.alerts) : "Memuat…";
      summary.className = "summary" + (s.errors.alerts ? " error" : "");
      return;
    }
    var kecamatan = {};
    s.alerts.forEach(function (a) { if (a.kecamatan) kecamatan[a.kecamatan] = true; });
    summary.className = "summary";
    summary.textContent = s.alerts.length
      ? s.alerts.length + " peringatan di " + Object.keys(kecamatan).length + " kecamatan"
      : "Tidak ada peringatan hari ini.";
    if (s.errors.alerts) {
      summary.append(el("span", { "class": "error" }, " — data terakhir; pembacaan baru gagal: " + problem(s.errors.alerts)));
    }
    s.alerts.forEach(function (a) {
      var li = el("li", { "data-kecamatan": a.kecamatan || "", "data-npsn": a.npsn });
      if (selected && a.kecamatan === selected) li.className = "selected";
      li.append(el("span", { "class": "school" }, a.school + (a.rombel ? " · kelas " + a.rombel : "")));
      li.append(el("span", { "class": "where" },
        "Kec. " + (names[a.kecamatan] || a.kecamatan || "?") + " · " + a.count + " siswa sakit (ambang " + a.threshold + ")"));
      list.append(li);
    });
  }

  function renderDiscrepancies(s) {
    var body = $("discrepancies").querySelector("tbody");
    body.replaceChildren();
    var summary = $("selisih-ringkas");
    if (s.discrepancies === null) {
      summary.textContent = s.errors.discrepancies ? "Selisih data: " + problem(s.errors.discrepancies) : "Menghitung…";
      summary.className = "summary" + (s.errors.discrepancies ? " error" : "");
      return;
    }
    var total = s.discrepancies.reduce(function (n, d) { return n + d.total; }, 0);
    summary.className = "summary";
    summary.textContent = total ? total + " selisih di " + s.discrepancies.length + " OPD" : "Tidak ada selisih data.";
    if (s.readAt.discrepancies) summary.append(el("span", { "class": "note" }, " · dihitung " + clock(s.readAt.discrepancies)));
    s.discrepancies.forEach(function (d) {
      var tr = el("tr", { "data-agency": d.agency });
      tr.append(el("th", { scope: "row" }, d.name));
      tr.append(el("td", { "class": "facts" }, Object.keys(d.byFact).map(function (f) {
        return (FACTS[f] || f) + " " + d.byFact[f];
      }).join(", ")));
      tr.append(el("td", { "class": "num" }, String(d.total)));
      body.append(tr);
    });
  }

  function announceChanges(s) {
    if (!previous) return;
    var before = {};
    previous.sources.forEach(function (src) { before[src.name] = src.state; });
    var said = s.sources.filter(function (src) { return before[src.name] && before[src.name] !== src.state; })
      .map(function (src) { return "Sumber " + src.name + ": " + (STATE[src.state] || [src.state])[0]; });
    var oldAlerts = previous.alerts ? previous.alerts.length : 0, newAlerts = s.alerts ? s.alerts.length : 0;
    if (newAlerts > oldAlerts) said.push((newAlerts - oldAlerts) + " peringatan baru");
    if (said.length) $("announce").textContent = said.join(". ");
  }

  function render(s) {
    renderHeader(s);
    renderSources(s);
    renderMap(s);
    renderAlerts(s);
    renderDiscrepancies(s);
    announceChanges(s);
    previous = s;
    document.body.setAttribute("data-generated", s.generatedAt);
  }

  function connect() {
    var source = new EventSource("status/events");
    source.addEventListener("snapshot", function (e) { render(JSON.parse(e.data)); });
    source.addEventListener("error", function () {
      var overall = $("overall");
      overall.textContent = "Koneksi ke gateway terputus, mencoba lagi…";
      overall.className = "overall offline";
    });
  }

  connect();
})();
