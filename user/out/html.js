// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
// The flame graph page: reads the report embedded as JSON in
// <script type="application/json" id="pyleak-data"> and draws, per section
// (memory, fds), an icicle flame graph (root at the top; click a frame to
// zoom, click the root to zoom out), a search box that highlights matching
// frames, a hover box with the amount, count and growth, and a sortable
// table of the top stacks. With several processes the graph's root has a
// child per process, the table a pid column and the header lists them.
// Every string from the target goes through textContent, never HTML. No
// network: everything is in this page.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("pyleak-data").textContent);
  var ROW = 18;
  // Several processes: a child of the root per process, a pid column.
  var several = data.processes.length > 1, procName = {};
  data.processes.forEach(function (p) { procName[p.pid] = p.comm + " (pid " + p.pid + ")"; });

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function human(v, unit) {
    if (unit !== "bytes") return (Math.round(v * 10) / 10).toString();
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0, a = Math.abs(v);
    while (a >= 1024 && i < 4) { a /= 1024; v /= 1024; i++; }
    return (i ? v.toFixed(1) : Math.round(v).toString()) + " " + u[i];
  }
  function base(f) { var i = f.lastIndexOf("/"); return i < 0 ? f : f.slice(i + 1); }
  function frameName(fr) { return fr.line < 0 ? "[unknown]" : fr.function + " (" + base(fr.file) + ":" + fr.line + ")"; }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return h;
  }
  function color(node) {
    var h = Math.abs(hue(node.key));
    return "hsl(" + (10 + h % 45) + "," + (60 + h % 30) + "%," + (62 + (h >> 8) % 14) + "%)";
  }

  var tip = el("div");
  tip.id = "tip";
  document.body.appendChild(tip);

  // Stacks (innermost frame first, as in the JSON report) -> a tree.
  function buildTree(sec) {
    var root = { name: "all", key: "all", file: "", value: 0, count: 0, rate: 0, children: {}, list: [], depth: 0 };
    sec.stacks.forEach(function (st) {
      var frames = st.frames.length ? st.frames.slice().reverse() : [{ function: st.note || "[stack unreadable]", file: "", line: 0 }];
      if (several) frames.unshift({ function: procName[st.pid] || "pid " + st.pid, file: "", line: 0 });
      var node = root;
      root.value += st.amount; root.count += st.count; root.rate += st.rate;
      frames.forEach(function (fr) {
        var name = fr.file === "" ? fr.function : frameName(fr);
        var key = name + "\u0000" + fr.file;
        var c = node.children[key];
        if (!c) {
          c = { name: name, key: key, file: fr.file, line: fr.line, value: 0, count: 0, rate: 0,
                children: {}, list: [], parent: node, depth: node.depth + 1 };
          node.children[key] = c;
          node.list.push(c);
        }
        c.value += st.amount; c.count += st.count; c.rate += st.rate;
        node = c;
      });
    });
    (function sort(n) {
      n.list.sort(function (a, b) { return b.value - a.value; });
      n.list.forEach(sort);
    })(root);
    return root;
  }

  function Flame(sec, box, matchedOut) {
    this.sec = sec; this.box = box; this.matchedOut = matchedOut;
    this.root = buildTree(sec); this.zoom = this.root; this.term = "";
  }
  Flame.prototype.draw = function () {
    var self = this, box = this.box, zoom = this.zoom, total = this.root.value || 1, maxDepth = 0;
    box.textContent = "";
    if (!this.root.value) { box.appendChild(el("div", "empty", "nothing outstanding")); box.style.height = ""; return; }
    var term = this.term.toLowerCase(), matched = 0;
    function add(node, x, w) {
      if (w < 0.0005 && node !== zoom) return;
      var d = el("div", "fr", node.name);
      d.style.left = (x * 100) + "%";
      d.style.width = (w * 100) + "%";
      d.style.top = (node.depth * ROW) + "px";
      d.style.background = node === self.root ? "#cfd8dc" : color(node);
      if (term && node !== self.root && (node.name.toLowerCase().indexOf(term) >= 0 || node.file.toLowerCase().indexOf(term) >= 0)) {
        d.className += " match";
        var p = node.parent, counted = false;
        for (; p; p = p.parent) if (p.matchedTop) counted = true;
        if (!counted) { matched += node.value; node.matchedTop = true; }
      }
      if (node.depth > maxDepth) maxDepth = node.depth;
      d.addEventListener("click", function (ev) { ev.stopPropagation(); self.zoom = node === self.zoom ? (node.parent || self.root) : node; self.draw(); });
      d.addEventListener("mousemove", function (ev) { self.tip(node, total, ev); });
      d.addEventListener("mouseleave", function () { tip.style.display = "none"; });
      box.appendChild(d);
      return d;
    }
    (function clear(n) { n.matchedTop = false; n.list.forEach(clear); })(this.root);
    // The zoomed frame's ancestors span the whole width above it.
    var chain = [];
    for (var a = zoom; a; a = a.parent) chain.unshift(a);
    chain.forEach(function (n) { var d = add(n, 0, 1); if (d && n !== zoom) d.className += " dim"; });
    (function walk(node, x, w) {
      var cx = x;
      node.list.forEach(function (c) {
        var cw = w * c.value / (node.value || 1);
        add(c, cx, cw);
        walk(c, cx, cw);
        cx += cw;
      });
    })(zoom, 0, 1);
    box.style.height = ((maxDepth + 1) * ROW + 4) + "px";
    this.matchedOut.textContent = term ? "matched: " + human(matched, this.sec.unit) + " (" + (100 * matched / total).toFixed(1) + "%)" : "";
  };
  Flame.prototype.tip = function (node, total, ev) {
    var u = this.sec.unit;
    tip.textContent = "";
    tip.appendChild(el("div", null, node.name));
    if (node.file) tip.appendChild(el("div", null, node.file + (node.line > 0 ? ":" + node.line : "")));
    tip.appendChild(el("div", null, human(node.value, u) + (u === "bytes" ? " in " + node.count + " allocations" : " fds") +
      " (" + (100 * node.value / total).toFixed(1) + "%), growth " + (node.rate >= 0 ? "+" : "") + human(node.rate, u) + "/s"));
    tip.style.display = "block";
    tip.style.left = Math.min(ev.clientX + 12, window.innerWidth - 540) + "px";
    tip.style.top = (ev.clientY + 14) + "px";
  };

  function table(sec, wrap) {
    var cols = [
      { key: "rank", title: "#", num: true, get: function (s) { return s.rank; } },
      { key: "pid", title: "pid", num: true, get: function (s) { return s.pid; } },
      { key: "where", title: "innermost frame", cls: "where", get: function (s) { return s.frames.length ? frameName(s.frames[0]) : (s.note || "[stack unreadable]"); } },
      { key: "amount", title: sec.unit === "bytes" ? "bytes" : "fds", num: true, get: function (s) { return s.amount; }, fmt: function (v) { return human(v, sec.unit); } },
      { key: "count", title: sec.unit === "bytes" ? "allocations" : "count", num: true, get: function (s) { return s.count; } },
      { key: "rate", title: "growth/s", num: true, get: function (s) { return s.rate; }, fmt: function (v) { return (v >= 0 ? "+" : "") + human(v, sec.unit); } },
      { key: "trend", title: "trend", cls: "trend", get: function (s) { return s.trend; } }
    ];
    if (!several) cols.splice(1, 1);
    var rows = sec.stacks.slice(0, sec.top), sortKey = "rank", asc = true;
    rows.forEach(function (s, i) { s.rank = i + 1; });
    var t = el("table"), thead = el("thead"), tbody = el("tbody"), hr = el("tr");
    cols.forEach(function (c) {
      var th = el("th", c.cls, c.title);
      th.addEventListener("click", function () {
        if (sortKey === c.key) asc = !asc; else { sortKey = c.key; asc = !c.num || c.key === "rank"; }
        render();
      });
      c.th = th;
      hr.appendChild(th);
    });
    thead.appendChild(hr); t.appendChild(thead); t.appendChild(tbody); wrap.appendChild(t);
    function render() {
      var c = cols.filter(function (x) { return x.key === sortKey; })[0];
      rows.sort(function (a, b) {
        var x = c.get(a), y = c.get(b), r = x < y ? -1 : x > y ? 1 : 0;
        return asc ? r : -r;
      });
      cols.forEach(function (k) { k.th.className = (k.cls || "") + (k === c ? " sorted" + (asc ? " asc" : "") : ""); });
      tbody.textContent = "";
      rows.forEach(function (s) {
        var tr = el("tr", s.trend);
        cols.forEach(function (k) {
          var v = k.get(s);
          var td = el("td", k.cls, k.fmt ? k.fmt(v) : String(v));
          if (k.key === "where" && s.frames.length) td.title = s.frames.map(frameName).join("\n");
          tr.appendChild(td);
        });
        tbody.appendChild(tr);
      });
    }
    render();
  }

  function who(p) {
    var s = "pid " + p.pid + " (" + p.comm + ")";
    if (p.status === "untraceable") return s + " not traced: " + (p.reason || "");
    s += ", CPython " + p.python + ", coverage " + p.coverage + (p.container ? ", container " + p.container : "");
    return p.status === "exited" ? s + ", exited" + (p.reason ? " (" + p.reason + ")" : "") : s;
  }
  var h = el("header"), when = "report " + data.report + (data.final ? " (final)" : "") + " at " +
    new Date(data.timestamp * 1000).toISOString() + ", traced " + data.elapsed_s.toFixed(1) + " s";
  if (data.processes.length === 1) {
    var p = data.processes[0];
    h.appendChild(el("h1", null, "pyleak-bpf: pid " + p.pid + " (" + p.comm + "), CPython " + p.python));
    h.appendChild(el("div", "meta", when + ", coverage " + p.coverage + (p.container ? ", container " + p.container : "") +
      (p.status === "traced" ? "" : ", " + p.status + (p.reason ? " (" + p.reason + ")" : ""))));
  } else {
    h.appendChild(el("h1", null, "pyleak-bpf: " + data.processes.length + " processes"));
    h.appendChild(el("div", "meta", when));
    var ul = el("ul", "procs");
    data.processes.forEach(function (p) { ul.appendChild(el("li", p.status, who(p))); });
    h.appendChild(ul);
  }
  document.body.insertBefore(h, tip);

  data.sections.forEach(function (sec) {
    var s = el("section");
    s.id = "section-" + sec.id;
    s.appendChild(el("h2", null, sec.title + ": " + human(sec.total, sec.unit) + " in " + sec.nstacks + " stacks"));
    var ctl = el("div", "controls"), input = el("input"), reset = el("button", null, "reset zoom"), matched = el("span", "matched");
    input.type = "search";
    input.placeholder = "search frames (function or file)";
    ctl.appendChild(input); ctl.appendChild(reset); ctl.appendChild(matched);
    s.appendChild(ctl);
    var body = el("div", "body"), box = el("div", "flame"), wrap = el("div", "tablewrap");
    body.appendChild(box); body.appendChild(wrap); s.appendChild(body);
    document.body.insertBefore(s, tip);
    var f = new Flame(sec, box, matched);
    input.addEventListener("input", function () { f.term = input.value; f.draw(); });
    reset.addEventListener("click", function () { f.zoom = f.root; f.draw(); });
    f.draw();
    table(sec, wrap);
  });
})();
