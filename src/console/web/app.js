// The ldc console's page: plain DOM modules, no framework, no build step
// (ADR 0016). One JSON view arrives by Server-Sent Events on every change;
// each panel is rebuilt from it, the forms are not (focus stays put).
const $ = (id) => document.getElementById(id);
const TOKEN = document.querySelector('meta[name="ldc-console-token"]').content;

/** h("div", {class: "x"}, child, "text") */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === false || v === null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c);
  return el;
}
const text = (s) => (s === undefined || s === null ? "" : String(s));
const dur = (ms) =>
  ms === undefined
    ? "–"
    : ms < 1000
      ? `${ms} ms`
      : ms < 120_000
        ? `${(ms / 1000).toFixed(1)} s`
        : `${Math.round(ms / 60_000)} min`;
const badge = (phase) => h("span", { class: `badge ${phaseClass(phase)}` }, text(phase));
function phaseClass(p) {
  if (["Ready", "Succeeded", "serving", "ok"].includes(p)) return "good";
  if (["Unreachable", "Unavailable", "Failed", "not visible"].includes(p)) return "bad";
  if (["Pending", "Running", "Degraded", "FailingOver", "RolledBack", "Aborted", "Cordoned", "Unknown"].includes(p))
    return "warn";
  return "";
}
function table(head, rows, attrs) {
  return h(
    "table",
    attrs,
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        head.map((c) => h("th", { scope: "col" }, c)),
      ),
    ),
    h("tbody", {}, rows),
  );
}

async function post(path, body) {
  const res = await fetch(path, {
    method: "POST",
    headers: { "content-type": "application/json", "x-console-token": TOKEN },
    body: JSON.stringify(body ?? {}),
  });
  const json = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  return res.ok ? json : { ...json, error: json.error ?? `HTTP ${res.status}`, status: json.status ?? res.status };
}
async function get(path) {
  const res = await fetch(path);
  const json = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  return res.ok ? json : { ...json, error: json.error ?? `HTTP ${res.status}` };
}

// ------------------------------------------------------------------ state

const ldc = (window.__ldc = { state: undefined, colors: {}, layout: {}, selected: {} });

function render(state) {
  ldc.state = state;
  const blind = state.sources.filter((s) => s.what.endsWith("home cluster")).every((s) => !s.ok);
  $("conn").textContent =
    `${state.server} · ${blind ? "CANNOT READ the home cluster (see below)" : "live"} (updated ${new Date(state.generatedAt).toLocaleTimeString()})`;
  renderProblems(state);
  renderZones(state);
  renderCells(state);
  renderMaps(state);
  renderEpochs(state);
  renderFailovers(state);
  renderSelects(state);
  renderSources(state);
}

function renderProblems(state) {
  const bad = state.sources.filter((s) => !s.ok);
  $("problems").replaceChildren(
    ...(bad.length
      ? [
          h(
            "p",
            {},
            h("strong", {}, "Not everything is visible: "),
            `${bad.length} source(s) cannot be read with your credentials or reached.`,
          ),
          h(
            "ul",
            {},
            bad.map((s) => h("li", {}, h("strong", {}, s.what), ": ", s.problem)),
          ),
        ]
      : []),
  );
}

function renderZones(state) {
  const regions = new Map();
  for (const z of state.zones) regions.set(z.region, [...(regions.get(z.region) ?? []), z]);
  if (!state.zones.length) return $("zones").replaceChildren(h("p", {}, "No zones (or none you may list)."));
  $("zones").replaceChildren(
    ...[...regions].map(([region, zones]) =>
      h(
        "div",
        { class: "region" },
        h("h3", {}, region),
        h(
          "ul",
          { class: "cards" },
          zones.map((z) => {
            const state = z.cordoned ? "Cordoned" : z.phase;
            return h(
              "li",
              { class: `card ${phaseClass(z.phase)}`, dataset: { zone: z.name, phase: z.phase } },
              h("strong", {}, z.name),
              " ",
              badge(z.phase),
              z.cordoned ? [" ", badge("Cordoned")] : "",
              h(
                "div",
                {},
                z.reachable === false ? "cluster unreachable" : z.reachable ? "cluster reachable" : "not probed yet",
                z.member ? " (member cluster)" : " (home cluster)",
              ),
              h("div", {}, `nodes ready: ${text(z.readyNodes ?? "?")}/${text(z.totalNodes ?? "?")}`),
              h("div", {}, `cells: ${z.cells.join(", ") || "none"}`),
              h("span", { class: "sr-only" }, `zone ${z.name} is ${state}`),
            );
          }),
        ),
      ),
    ),
  );
}

function renderCells(state) {
  const rules = state.shardMaps.map((m) => m.rule);
  $("cells").replaceChildren(
    table(
      ["Cell", "Type", "Home", "Active", "Phase", ...rules.map((r) => `Shards (${r})`), "Failover"],
      state.cells.map((c) =>
        h(
          "tr",
          { dataset: { cell: c.name } },
          h("th", { scope: "row" }, c.name),
          h("td", {}, c.type),
          h("td", {}, c.home),
          h("td", {}, c.active, c.active !== c.home ? " (moved)" : ""),
          h("td", {}, badge(c.phase)),
          rules.map((r) => h("td", { class: "num" }, text(c.shards[r] ?? 0))),
          h("td", {}, c.failover ? [c.failover, c.writeFrozen ? " · writes frozen" : ""] : "–"),
        ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ shard map

/** A distinct, stable colour per cell index (golden angle hue), as integers so pixels can be checked. */
function colorOf(i) {
  const hue = (i * 137.508) % 360,
    s = 0.55,
    l = i % 2 ? 0.42 : 0.58;
  const k = (n) => (n + hue / 30) % 12,
    a = s * Math.min(l, 1 - l);
  const f = (n) => Math.round(255 * (l - a * Math.max(-1, Math.min(k(n) - 3, Math.min(9 - k(n), 1)))));
  return [f(0), f(8), f(4)];
}
const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;

function keyRange(fn, shard, shards) {
  if (fn.type === "Digits") {
    const to = fn.to ?? (fn.from < 0 ? 0 : undefined);
    const width = to !== undefined ? Math.abs(to - fn.from) : String(shards - 1).length;
    return `keys whose digits [${fn.from}, ${to ?? "end"}) read ${String(shard).padStart(width, "0")} (mod ${shards})`;
  }
  if (fn.type === "Modulo") return `integer keys k with k mod ${shards} = ${shard}`;
  return `keys whose ${fn.algorithm} hash mod ${shards} = ${shard} (a hash has no contiguous key range)`;
}

function describeShard(m, s) {
  const c = m.cells[m.owner[s]];
  const frozen = m.frozen.includes(s);
  return `shard ${s} → cell ${c.name} (${c.type}) → zone ${c.zone} (${c.region})${frozen ? " · WRITES FROZEN" : ""} · ${keyRange(m.fn, s, m.shards)}`;
}

function renderMaps(state) {
  const host = $("maps");
  const keepFocus = document.activeElement?.dataset?.rule;
  host.replaceChildren(
    ...state.shardMaps.map((m) => {
      const size = Math.max(5, Math.min(28, Math.floor(800 / Math.ceil(Math.sqrt(m.shards * 2)))));
      const cols = Math.min(m.shards, Math.floor(800 / size));
      const rows = Math.ceil(m.shards / cols);
      const colors = m.cells.map((_, i) => colorOf(i));
      ldc.colors[m.rule] = colors;
      ldc.layout[m.rule] = { size, cols, rows };
      const canvas = h("canvas", {
        width: cols * size,
        height: rows * size,
        tabindex: 0,
        role: "img",
        class: "map",
        "aria-label": `Shard map of rule ${m.rule}: ${m.shards} shards coloured by owning cell. Arrow keys select a shard.`,
        dataset: { rule: m.rule },
      });
      const out = h(
        "output",
        { class: "shard-info", "aria-live": "polite" },
        "Hover or use the arrow keys to select a shard.",
      );
      const frozen = new Set(m.frozen);
      const draw = () => {
        const g = canvas.getContext("2d");
        g.clearRect(0, 0, canvas.width, canvas.height);
        for (let s = 0; s < m.shards; s++) {
          const x = (s % cols) * size,
            y = Math.floor(s / cols) * size;
          g.fillStyle = rgb(colors[m.owner[s]]);
          g.fillRect(x, y, size - (size > 6 ? 1 : 0), size - (size > 6 ? 1 : 0));
          if (frozen.has(s)) {
            // a dark corner: the centre keeps the cell's colour
            g.fillStyle = "#000";
            g.beginPath();
            g.moveTo(x, y);
            g.lineTo(x + size * 0.5, y);
            g.lineTo(x, y + size * 0.5);
            g.fill();
          }
        }
        const sel = ldc.selected[m.rule];
        if (sel !== undefined) {
          g.strokeStyle = "#000";
          g.lineWidth = 2;
          g.strokeRect((sel % cols) * size + 1, Math.floor(sel / cols) * size + 1, size - 2, size - 2);
        }
      };
      const select = (s) => {
        ldc.selected[m.rule] = Math.max(0, Math.min(m.shards - 1, s));
        out.textContent = describeShard(m, ldc.selected[m.rule]);
        draw();
      };
      canvas.addEventListener("mousemove", (e) => {
        const r = canvas.getBoundingClientRect();
        const s = Math.floor((e.clientY - r.top) / size) * cols + Math.floor((e.clientX - r.left) / size);
        if (s >= 0 && s < m.shards) select(s);
      });
      canvas.addEventListener("keydown", (e) => {
        const cur = ldc.selected[m.rule] ?? -1;
        const moves = {
          ArrowRight: 1,
          ArrowLeft: -1,
          ArrowDown: cols,
          ArrowUp: -cols,
          PageDown: cols * 8,
          PageUp: -cols * 8,
        };
        if (e.key in moves) select(cur < 0 ? 0 : cur + moves[e.key]);
        else if (e.key === "Home") select(0);
        else if (e.key === "End") select(m.shards - 1);
        else return;
        e.preventDefault();
      });
      draw();
      if (ldc.selected[m.rule] !== undefined) out.textContent = describeShard(m, ldc.selected[m.rule]);
      if (keepFocus === m.rule) queueMicrotask(() => canvas.focus());
      const counts = m.cells.map(() => 0);
      for (const o of m.owner) counts[o]++;
      return h(
        "figure",
        { class: "shard-map", dataset: { rule: m.rule, epoch: m.epoch } },
        h(
          "figcaption",
          {},
          h("strong", {}, m.rule),
          ` · epoch ${m.epoch} · ${m.function} · ${m.frozen.length} frozen · from ${m.source}`,
        ),
        canvas,
        out,
        h(
          "ul",
          { class: "legend" },
          m.cells.map((c, i) =>
            counts[i]
              ? h(
                  "li",
                  {},
                  h("span", { class: "swatch", style: "", dataset: { color: rgb(colors[i]) } }),
                  `${c.name} @ ${c.zone}: ${counts[i]}`,
                )
              : "",
          ),
        ),
        h("p", { class: "hint" }, "Frozen shards carry a black corner."),
      );
    }),
  );
  // CSP forbids inline styles in markup; set the swatches' colours through the CSSOM.
  for (const s of host.querySelectorAll(".swatch")) s.style.background = s.dataset.color;
  if (!state.shardMaps.length)
    host.append(h("p", {}, "No routing table is published (or you may not read the routing ConfigMaps: see below)."));
}

function renderEpochs(state) {
  $("epochs").replaceChildren(
    ...state.rules.map((r) =>
      h(
        "div",
        { class: "rule", dataset: { rule: r.name } },
        h("h3", {}, `${r.name}: epoch ${text(r.epoch ?? "–")}`),
        h(
          "p",
          {},
          r.sidecars
            ? `${r.sidecars.converged} of ${r.sidecars.total} sidecars hold epoch ${r.epoch} (operator's count).`
            : "No sidecar count in the rule's status yet.",
          r.conditions
            .filter((c) => c.status !== "True")
            .map((c) => h("span", { class: "bad" }, ` ${c.type}: ${c.message}`)),
        ),
        table(
          ["Zone", "Published copy", "Epoch"],
          r.published.map((p) =>
            h(
              "tr",
              {},
              h("td", {}, p.zone),
              h("td", {}, p.source),
              h("td", { class: p.epoch === r.epoch ? "num" : "num warn" }, text(p.epoch)),
            ),
          ),
        ),
        r.acks.length
          ? table(
              ["Zone", "Sidecars per epoch (relay acks)"],
              r.acks.map((a) =>
                h(
                  "tr",
                  {},
                  h("td", {}, a.zone),
                  h("td", {}, a.epochs.map((e) => `${e.sidecars} at ${e.epoch}`).join(", ")),
                ),
              ),
            )
          : h(
              "p",
              { class: "hint" },
              "Per-zone acks are shown when sidecars ack through relays (ack ConfigMaps); otherwise the operator's count above.",
            ),
      ),
    ),
  );
}

// ------------------------------------------------------------------ failovers

function renderFailovers(state) {
  if (!state.failovers.length) return $("failovers").replaceChildren(h("p", {}, "No failovers or drills yet."));
  $("failovers").replaceChildren(
    ...state.failovers.map((f) => {
      const max = Math.max(1, ...f.steps.map((s) => s.ms ?? 0));
      return h(
        "article",
        {
          class: `failover ${f.finished ? "past" : "running"}`,
          dataset: { failover: f.name, phase: f.phase, step: text(f.step) },
        },
        h(
          "h3",
          {},
          `${f.name} `,
          badge(f.phase),
          f.step && !f.finished ? ` · step ${f.step}` : "",
          f.abort ? " · abort requested" : "",
        ),
        h(
          "p",
          {},
          `${f.type} of ${f.target}${f.destination ? ` to ${f.destination}` : ""}${f.drillDuration ? `, failing back after ${f.drillDuration}` : ""}`,
          f.moves.length ? ` · moves: ${f.moves.map((m) => `${m.cell} ${m.from}→${m.to}`).join(", ")}` : "",
        ),
        h(
          "dl",
          { class: "facts" },
          h("dt", {}, "RTO"),
          h("dd", {}, dur(f.rtoMs)),
          h("dt", {}, "Write freeze"),
          h("dd", {}, f.freezeMs !== undefined ? dur(f.freezeMs) : `${text(f.writeFreeze ?? "5s")} (set)`),
          h("dt", {}, "Refused writes"),
          h("dd", {}, text(f.refusedWrites ?? "–")),
          h("dt", {}, "Epochs"),
          h(
            "dd",
            {},
            f.epochs
              ? Object.entries(f.epochs)
                  .map(([k, v]) => `${k} ${v}`)
                  .join(", ")
              : "–",
          ),
        ),
        f.message ? h("p", { class: "msg" }, f.message) : "",
        h(
          "ol",
          { class: "timeline", "aria-label": `Steps of ${f.name}` },
          f.steps.map((s) =>
            h(
              "li",
              { dataset: { step: s.name, phase: s.phase }, title: s.message ?? "" },
              h("span", { class: "step-name" }, s.name),
              h("span", {
                class: `bar ${phaseClass(s.phase)}`,
                dataset: { w: Math.max(2, Math.round((100 * (s.ms ?? 0)) / max)) },
              }),
              h("span", { class: "step-meta" }, `${s.phase} · ${dur(s.ms)}`),
            ),
          ),
        ),
        !f.finished && !f.abort ? abortControl(f.name) : "",
      );
    }),
  );
  for (const b of document.querySelectorAll(".timeline .bar")) b.style.width = `${b.dataset.w}%`;
}

function abortControl(name) {
  const btn = h("button", { type: "button", class: "danger", dataset: { abort: name } }, `Abort ${name}…`);
  btn.addEventListener("click", async () => {
    if (btn.dataset.armed !== "1") {
      btn.dataset.armed = "1";
      btn.textContent = `Confirm: abort ${name} and roll back`;
      return;
    }
    btn.disabled = true;
    const r = await post(`/api/failovers/${encodeURIComponent(name)}/abort`);
    showAction(
      r.error ? `Abort of ${name} refused: ${r.error}` : `Abort of ${name} requested: the operator rolls it back.`,
      !!r.error,
    );
  });
  return btn;
}

function showAction(msg, bad) {
  $("action-out").replaceChildren(h("p", { class: bad ? "bad" : "good" }, msg));
}

function drillRequest() {
  const cells = $("drill-cells")
    .value.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return {
    ...(cells.length ? { cells } : { zone: $("drill-zone").value || undefined }),
    to: $("drill-to").value || undefined,
    duration: $("drill-duration").value.trim() || undefined,
    freeze: $("drill-freeze").value.trim() || undefined,
  };
}

$("drill-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const req = drillRequest();
  const out = $("plan");
  out.replaceChildren(h("p", {}, "Asking the API server for a dry run…"));
  const p = await post("/api/plan", req);
  if (p.error)
    return out.replaceChildren(h("p", { class: "bad", id: "plan-error" }, `Cannot plan this drill: ${p.error}`));
  const confirm = h("input", { id: "drill-confirm", autocomplete: "off", "aria-describedby": "confirm-help" });
  const start = h("button", { type: "button", id: "drill-start", disabled: true, class: "danger" }, "Start the drill");
  confirm.addEventListener("input", () => {
    start.disabled = !p.dryRun.ok || confirm.value !== p.confirmWith;
  });
  start.addEventListener("click", async () => {
    start.disabled = true;
    const r = await post("/api/drills", { ...req, name: p.confirmWith, confirm: confirm.value });
    if (r.error) showAction(`Starting ${p.confirmWith} was refused: ${r.error}`, true);
    else {
      showAction(`Drill ${r.created} created: follow it below.`, false);
      out.replaceChildren();
    }
  });
  out.replaceChildren(
    h("h3", {}, `Plan for ${p.confirmWith}`),
    p.moves.length
      ? table(
          ["Cell", "From", "To", "Shards"],
          p.moves.map((m) =>
            h("tr", {}, h("td", {}, m.cell), h("td", {}, m.from), h("td", {}, m.to), h("td", {}, m.shards)),
          ),
        )
      : h("p", {}, "No cell would move."),
    p.problems.length
      ? h(
          "ul",
          { class: "bad" },
          p.problems.map((x) => h("li", {}, x)),
        )
      : "",
    h(
      "p",
      {},
      `Steps: ${p.steps.join(" → ")}. Writes to the moving shards are frozen for ${p.failover.spec.writeFreeze ?? "5s"} at each switch.`,
    ),
    p.dryRun.ok
      ? h(
          "p",
          { class: "good", id: "dryrun" },
          "The API server accepted a dry run of this Failover (validation and your RBAC).",
        )
      : h("p", { class: "bad", id: "dryrun", role: "alert" }, `Refused by the API server: ${p.dryRun.problem}`),
    h("p", { id: "confirm-help" }, `Type the drill's name `, h("code", {}, p.confirmWith), " to confirm:"),
    h("div", { class: "row" }, h("label", { for: "drill-confirm", class: "sr-only" }, "Confirmation"), confirm, start),
  );
});

// ------------------------------------------------------------------ selects, lookup, history

function fill(select, values, labelOf = (v) => v, keep = true) {
  const cur = select.value;
  const same = select.options.length === values.length && values.every((v, i) => select.options[i].value === v);
  if (same) return;
  select.replaceChildren(...values.map((v) => h("option", { value: v }, labelOf(v))));
  if (keep && values.includes(cur)) select.value = cur;
}

function renderSelects(state) {
  const zones = state.zones.map((z) => z.name);
  fill($("drill-zone"), ["", ...zones], (v) => v || "(none: use cells)");
  fill($("drill-to"), ["", ...zones], (v) => v || "(each cell's first healthy standby)");
  const rules = state.shardMaps.map((m) => m.rule);
  fill($("lookup-rule"), rules);
  fill(
    $("hist-rule"),
    state.rules.map((r) => r.name),
  );
  const hr = state.rules.find((r) => r.name === $("hist-rule").value);
  const epochs = (hr?.history ?? []).map(String);
  fill($("hist-from"), epochs);
  fill($("hist-to"), epochs);
  if (epochs.length > 1 && $("hist-to").dataset.touched !== "1") $("hist-to").value = epochs[epochs.length - 1];
}
$("hist-to").addEventListener("change", (e) => (e.target.dataset.touched = "1"));
$("hist-rule").addEventListener("change", () => ldc.state && renderSelects(ldc.state));

$("lookup").addEventListener("submit", async (e) => {
  e.preventDefault();
  const rule = $("lookup-rule").value;
  const r = await get(`/api/route?rule=${encodeURIComponent(rule)}&key=${encodeURIComponent($("lookup-key").value)}`);
  if (r.error) return ($("lookup-out").textContent = r.error);
  $("lookup-out").textContent =
    `key ${r.key} → shard ${r.shard} → cell ${r.cell} → zone ${r.zone} (${r.region})${r.frozen ? " · WRITES FROZEN" : ""} · epoch ${r.epoch}`;
  const map = document.querySelector(`canvas.map[data-rule="${CSS.escape(rule)}"]`);
  if (map) {
    map.focus();
    map.dispatchEvent(new KeyboardEvent("keydown", { key: "Home" }));
    for (let i = 0; i < r.shard; i++) map.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowRight" }));
    $("lookup-key").focus();
  }
});

$("history").addEventListener("submit", async (e) => {
  e.preventDefault();
  const d = await get(
    `/api/diff?rule=${encodeURIComponent($("hist-rule").value)}&from=${$("hist-from").value}&to=${$("hist-to").value}`,
  );
  if (d.error) return $("diff").replaceChildren(h("p", { class: "bad" }, d.error));
  $("diff").replaceChildren(
    h(
      "p",
      {},
      `${d.rule}: epoch ${d.from} → ${d.to}: ${d.changed ? `${d.movedCount} shards moved` : "no change"}${d.reshard ? " (resharded: keys land on other shards)" : ""}.`,
    ),
    d.moved.length
      ? table(
          ["Shards", "From", "To"],
          d.moved.map((m) => h("tr", {}, h("td", {}, m.shards), h("td", {}, m.from), h("td", {}, m.to))),
        )
      : "",
    d.frozen ? h("p", {}, `Frozen: ${d.frozen}`) : "",
    d.unfrozen ? h("p", {}, `Unfrozen: ${d.unfrozen}`) : "",
    d.cellsChanged.length ? h("p", {}, `Cells: ${d.cellsChanged.join("; ")}`) : "",
    d.settings.length ? h("p", {}, `Settings changed: ${d.settings.join(", ")}`) : "",
  );
});

function renderSources(state) {
  $("sources").replaceChildren(
    h(
      "p",
      { class: "hint" },
      "The console reads with your kubeconfig only. History holds the tables this console saw since it started.",
    ),
    table(
      ["Source", "State"],
      state.sources.map((s) =>
        h("tr", {}, h("td", {}, s.what), h("td", {}, s.ok ? badge("ok") : [badge("not visible"), " ", s.problem])),
      ),
    ),
  );
}

// ------------------------------------------------------------------ live updates

const events = new EventSource("/api/events");
events.addEventListener("state", (e) => render(JSON.parse(e.data)));
events.addEventListener("error", () => {
  $("conn").textContent = "lost the connection to the console server (kubectl ldc dashboard stopped?): retrying…";
});
