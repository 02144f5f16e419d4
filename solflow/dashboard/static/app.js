// SolFlow dashboard: one EventSource on /api/stream; every "snapshot" event updates the page in place.
// Rows are keyed by mint and reused, so a row keeps its element (and focus, hover) across updates.
// Times shown are chain time from the snapshot, never this machine's clock.
"use strict";

const WINDOWS = [60, 300, 900, 3600, 14400];
const SIGNAL_LABELS = {
  BREAKOUT: "BRK", FOCUSED: "FOC", SURGE: "SRG", BOT_DROPOFF: "BOT↓", DCA_CONVICTION: "DCA",
};
const PROGRAM_LABELS = {
  pumpfun: "Pump.fun", pumpswap: "PumpSwap", launchlab: "LetsBonk", moonshot: "Moonshot", jupiter_dca: "DCA",
};
const DEFAULT_SORT = "nf_300";

const $ = (id) => document.getElementById(id);
const rows = new Map(); // mint -> <tr>
const state = readParams();
let source = null;
let detailMint = null;
let latest = null;

// ------------------------------------------------------------------ formatting

function fmtUtc(t) {
  if (t == null) return "—";
  return new Date(t * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC";
}

function fmtDuration(s) {
  if (s == null) return "—";
  const sign = s < 0 ? "-" : "";
  s = Math.abs(Math.round(s));
  if (s < 60) return `${sign}${s} s`;
  if (s < 3600) return `${sign}${Math.floor(s / 60)} m`;
  if (s < 86400) return `${sign}${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
  return `${sign}${Math.floor(s / 86400)} d`;
}

function fmtSol(v, signed) {
  if (v == null) return "—";
  const abs = Math.abs(v);
  const text = abs >= 1e6 ? (abs / 1e6).toFixed(2) + "M" : abs >= 1e4 ? (abs / 1e3).toFixed(1) + "k" : abs.toFixed(2);
  if (v < 0) return "−" + text;
  return signed && v > 0 ? "+" + text : text;
}

function fmtPrice(v) {
  if (v == null) return "—";
  if (v === 0) return "0";
  if (v >= 1) return v.toFixed(3);
  if (v >= 0.001) return v.toPrecision(3);
  return v.toExponential(2);
}

const QUOTE_LABELS = {
  EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v: "USDC",
  Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB: "USDT",
};

function quoteLabel(mint) {
  return QUOTE_LABELS[mint] || shortMint(mint);
}

function fmtWindow(s) {
  return s % 3600 === 0 ? `${s / 3600} h` : s % 60 === 0 ? `${s / 60} m` : `${s} s`;
}

function shortMint(mint) {
  return mint.slice(0, 4) + "…" + mint.slice(-4);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

function sparkline(values, cls) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 90 24");
  svg.setAttribute("class", cls);
  const known = values.map((v, i) => [i, v]).filter(([, v]) => v != null);
  if (!known.length) return svg;
  const lo = Math.min(0, ...known.map(([, v]) => v));
  const hi = Math.max(0, ...known.map(([, v]) => v));
  const span = hi - lo || 1;
  const x = (i) => (i * 90) / Math.max(1, values.length - 1);
  const y = (v) => 22 - ((v - lo) / span) * 20;
  const zero = document.createElementNS(ns, "line");
  Object.entries({ x1: 0, x2: 90, y1: y(0), y2: y(0), class: "zero" }).forEach(([k, v]) => zero.setAttribute(k, v));
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", known.map(([i, v]) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" "));
  const last = known[known.length - 1][1];
  line.setAttribute("class", last >= 0 ? "up" : "down");
  svg.append(zero, line);
  return svg;
}

// ------------------------------------------------------------------ parameters (kept in the URL)

function readParams() {
  const p = new URLSearchParams(location.search);
  return {
    sort: p.get("sort") || DEFAULT_SORT,
    order: p.get("order") || "desc",
    programs: new Set((p.get("program") || "").split(",").filter(Boolean)),
    q: p.get("q") || "",
    dca: p.get("dca") === "1",
    hide_graduated: p.get("hide_graduated") === "1",
    min_nf300: p.get("min_nf300") || "",
  };
}

function queryString() {
  const p = new URLSearchParams();
  if (state.sort !== DEFAULT_SORT) p.set("sort", state.sort);
  if (state.order !== "desc") p.set("order", state.order);
  if (state.programs.size) p.set("program", [...state.programs].join(","));
  if (state.q) p.set("q", state.q);
  if (state.dca) p.set("dca", "1");
  if (state.hide_graduated) p.set("hide_graduated", "1");
  if (state.min_nf300 !== "") p.set("min_nf300", state.min_nf300);
  return p.toString();
}

function connect() {
  const qs = queryString();
  history.replaceState(null, "", qs ? "?" + qs : location.pathname);
  if (source) source.close();
  source = new EventSource("/api/stream" + (qs ? "?" + qs : ""));
  source.addEventListener("snapshot", (event) => render(JSON.parse(event.data)));
  source.onerror = () => setStatus("offline", "connection to the dashboard server lost; retrying");
}

// ------------------------------------------------------------------ rendering

function setStatus(status, problem) {
  const node = $("status") || document.querySelector('[data-testid="status"]');
  node.textContent = status;
  node.dataset.value = status;
  node.className = "status " + status;
  const note = $("problem");
  note.hidden = !problem;
  note.textContent = problem || "";
}

function render(snap) {
  latest = snap;
  setStatus(snap.status, snap.problem);
  const clock = document.querySelector('[data-testid="chain-time"]');
  clock.textContent = fmtUtc(snap.chain_time);
  clock.dataset.value = snap.chain_time == null ? "" : String(snap.chain_time);
  $("lag").textContent = fmtDuration(snap.lag_s);
  const counts = snap.counts || {};
  $("count-active").textContent = counts.active ?? 0;
  $("count-matching").textContent = counts.matching ?? 0;
  $("count-signals").textContent = counts.signals_1h ?? 0;
  $("count-followed").textContent = counts.followed ?? 0;
  $("count-blocked").textContent = counts.blocked ?? 0;
  const columns = snap.columns || {};
  $("hide-graduated-label").classList.toggle("unavailable", !columns.graduated);
  document.body.classList.toggle("no-prices", !columns.price_sol);

  const body = $("token-rows");
  const tokens = snap.tokens || [];
  const wanted = new Set(tokens.map((t) => t.mint));
  for (const [mint, tr] of rows) {
    if (!wanted.has(mint)) {
      tr.remove();
      rows.delete(mint);
    }
  }
  tokens.forEach((token, index) => {
    let tr = rows.get(token.mint);
    if (!tr) {
      tr = createRow(token.mint);
      rows.set(token.mint, tr);
    }
    updateRow(tr, token, snap.chain_time);
    if (body.children[index] !== tr) body.insertBefore(tr, body.children[index] || null);
  });
  const more = (counts.matching ?? 0) - (snap.offset ?? 0) - tokens.length;
  $("more").hidden = more <= 0;
  $("more").textContent = `${more} more mints match: narrow the filters or sort by another column`;
  const empty = $("empty");
  empty.hidden = tokens.length > 0;
  empty.textContent = snap.status === "waiting" ? `waiting for data… ${snap.problem || ""}` : "no mint matches";
  if (detailMint) refreshDetail();
}

function createRow(mint) {
  const tr = el("tr", { "data-testid": "token-row", "data-mint": mint, tabindex: "0" });
  const cell = (name, cls) => {
    const td = el("td", { class: cls, "data-col": name });
    tr.append(td);
    return td;
  };
  const token = cell("token", "token");
  token.append(
    el("span", { class: "name", "data-testid": "token-name" }),
    el("span", { class: "symbol", "data-testid": "token-symbol" }),
    el("span", { class: "mint", title: mint, text: shortMint(mint) }),
  );
  cell("venue", "venue");
  cell("age", "num");
  cell("price", "num").append(el("span", { "data-testid": "price-sol" }));
  cell("mcap", "num").append(el("span", { "data-testid": "mcap-sol" }));
  cell("progress", "progress").append(
    el("span", { class: "bar", "data-testid": "progress" }, el("span", { class: "fill" }), el("span", { class: "label" })),
  );
  for (const w of WINDOWS) cell(`nf_${w}`, "num flow").append(el("span", { "data-testid": `nf-${w}` }));
  cell("bs", "num");
  cell("wallets", "num");
  cell("dca", "num dca");
  cell("signals", "signals");
  cell("score", "num");
  cell("spark", "spark");
  const actions = cell("actions", "actions");
  actions.append(
    el("button", { type: "button", class: "follow", "data-testid": "follow-button", "aria-pressed": "false", title: "follow (pin first)" }),
    el("button", { type: "button", class: "block", "data-testid": "block-button", title: "block: hide this mint everywhere", text: "block" }),
  );
  return tr;
}

function updateRow(tr, t, chainTime) {
  const q = (sel) => tr.querySelector(sel);
  tr.classList.toggle("followed", t.followed);
  const name = q('[data-testid="token-name"]');
  name.textContent = t.name || shortMint(t.mint);
  name.classList.toggle("placeholder", !t.name);
  const symbol = q('[data-testid="token-symbol"]');
  symbol.textContent = t.symbol || "—";
  symbol.classList.toggle("placeholder", !t.symbol);

  q('[data-col="venue"]').textContent = t.programs.map((p) => PROGRAM_LABELS[p] || p).join(" · ");
  const age = q('[data-col="age"]');
  age.textContent = (t.age_from === "created" ? "" : "≥ ") + fmtDuration(t.age_s);
  age.title = t.age_from === "created" ? "since its launch" : "since first seen (its launch is not in the data)";

  // A price in another quote (USDC, a tokenized stock) is shown in that unit when SOL's is unknown.
  const inSol = t.price_sol != null || t.price == null;
  setValue(q('[data-testid="price-sol"]'), inSol ? t.price_sol : t.price,
    inSol ? fmtPrice(t.price_sol) : `${fmtPrice(t.price)} ${quoteLabel(t.quote_mint)}`);
  setValue(q('[data-testid="mcap-sol"]'), t.market_cap_sol, fmtSol(t.market_cap_sol));
  const bar = q('[data-testid="progress"]');
  setValue(bar, t.bonding_progress, "");
  bar.classList.toggle("amm", t.graduated === true);
  bar.classList.toggle("unknown", t.bonding_progress == null && t.graduated !== true);
  bar.querySelector(".fill").style.width = `${Math.round(100 * Math.min(1, Math.max(0, t.bonding_progress || 0)))}%`;
  bar.querySelector(".label").textContent =
    t.graduated === true ? "AMM" : t.bonding_progress == null ? "—" : `${Math.round(100 * t.bonding_progress)}%`;

  for (const w of WINDOWS) {
    const v = t[`nf_${w}`];
    const node = q(`[data-testid="nf-${w}"]`);
    setValue(node, v, fmtSol(v, true));
    node.className = v > 0 ? "pos" : v < 0 ? "neg" : "";
  }
  q('[data-col="bs"]').textContent = `${t.buys_300 ?? "—"}/${t.sells_300 ?? "—"}`;
  const wallets = q('[data-col="wallets"]');
  wallets.replaceChildren(String(t.wallets_300 ?? "—"));
  if (t.bot_wallets_300) {
    wallets.append(el("span", { class: "bots", title: `${t.bot_wallets_300} of them rated bots`, text: ` ${t.bot_wallets_300}b` }));
  }
  const dca = q('[data-col="dca"]');
  dca.replaceChildren(String(t.dca_buys_3600 ?? 0));
  if (t.dca_spark) dca.append(sparkline(t.dca_spark, "dca-spark"));

  q('[data-col="signals"]').replaceChildren(
    ...t.signals.map((s) =>
      el("span", {
        class: `badge sev-${s.severity}`,
        "data-testid": "signal-badge",
        "data-type": s.type,
        title: `${s.type} severity ${s.severity}, score ${(s.score ?? 0).toFixed(2)}, since ${fmtUtc(s.since)}`,
        text: SIGNAL_LABELS[s.type] || s.type,
      }),
    ),
  );
  const score = q('[data-col="score"]');
  score.textContent = t.score == null ? "—" : String(t.score);
  score.title = t.pattern ? `${t.pattern}, confidence ${t.confidence}` : "";
  q('[data-col="spark"]').replaceChildren(sparkline(t.spark, "flow-spark"));
  const follow = q('[data-testid="follow-button"]');
  follow.setAttribute("aria-pressed", String(t.followed));
  follow.textContent = t.followed ? "★" : "☆";
}

function setValue(node, value, text) {
  if (value == null) delete node.dataset.value;
  else node.dataset.value = String(value);
  if (text !== "") node.textContent = text;
}

// ------------------------------------------------------------------ actions

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) throw new Error(answer.error || response.statusText);
  return answer;
}

$("token-rows").addEventListener("click", async (event) => {
  const tr = event.target.closest("tr[data-mint]");
  if (!tr) return;
  const mint = tr.dataset.mint;
  const button = event.target.closest("button");
  try {
    if (button && button.dataset.testid === "block-button") {
      await post("/api/block", { mint });
      tr.remove(); // the next snapshot confirms; until then it is already gone from this page
      rows.delete(mint);
      if (detailMint === mint) closeDetail();
    } else if (button && button.dataset.testid === "follow-button") {
      const followed = button.getAttribute("aria-pressed") === "true";
      await post(followed ? "/api/unfollow" : "/api/follow", { mint });
    } else {
      openDetail(mint);
    }
  } catch (error) {
    setStatus(latest ? latest.status : "waiting", String(error.message || error));
  }
});

$("token-rows").addEventListener("keydown", (event) => {
  const tr = event.target.closest("tr[data-mint]");
  if (tr && event.key === "Enter" && event.target === tr) openDetail(tr.dataset.mint);
});

document.querySelector("thead").addEventListener("click", (event) => {
  const th = event.target.closest("th[data-sort]");
  if (!th) return;
  const key = th.dataset.sort;
  if (state.sort === key) state.order = state.order === "desc" ? "asc" : "desc";
  else {
    state.sort = key;
    state.order = key === "token" || key === "venue" ? "asc" : "desc";
  }
  showSort();
  connect();
});

function showSort() {
  for (const th of document.querySelectorAll("th[data-sort]")) {
    const on = th.dataset.sort === state.sort;
    th.setAttribute("aria-sort", on ? (state.order === "desc" ? "descending" : "ascending") : "none");
  }
}

for (const chip of document.querySelectorAll(".chip")) {
  chip.addEventListener("click", () => {
    const program = chip.dataset.program;
    if (state.programs.has(program)) state.programs.delete(program);
    else state.programs.add(program);
    chip.setAttribute("aria-pressed", String(state.programs.has(program)));
    connect();
  });
}

let searchTimer = null;
$("search").addEventListener("input", (event) => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => {
    state.q = event.target.value.trim();
    connect();
  }, 250);
});
$("dca-only").addEventListener("change", (event) => {
  state.dca = event.target.checked;
  connect();
});
$("hide-graduated").addEventListener("change", (event) => {
  state.hide_graduated = event.target.checked;
  connect();
});
$("min-flow").addEventListener("change", (event) => {
  state.min_nf300 = event.target.value.trim();
  connect();
});

// ------------------------------------------------------------------ blocked list

$("blocked-open").addEventListener("click", async () => {
  await loadBlocked();
  $("blocked-dialog").showModal();
});

async function loadBlocked() {
  const answer = await (await fetch("/api/blocklist")).json();
  const blocks = answer.blocks.filter((b) => b.active);
  $("blocked-empty").hidden = blocks.length > 0;
  $("blocked-rows").replaceChildren(
    ...blocks.map((b) =>
      el(
        "tr",
        { "data-testid": "blocked-row", "data-mint": b.mint },
        el("td", { class: "mint", title: b.mint, text: shortMint(b.mint) }),
        el("td", { text: b.reason || "—" }),
        el("td", { text: b.blocked_by }),
        el("td", { text: fmtUtc(b.created_at) + (b.clock === "wall" ? " (wall clock)" : "") }),
        el("td", { text: b.expires_at == null ? "unblocked by hand" : fmtUtc(b.expires_at) }),
        el("td", {}, el("button", { type: "button", "data-testid": "unblock-button", "data-mint": b.mint, text: "unblock" })),
      ),
    ),
  );
}

$("blocked-rows").addEventListener("click", async (event) => {
  const button = event.target.closest('[data-testid="unblock-button"]');
  if (!button) return;
  await post("/api/unblock", { mint: button.dataset.mint });
  await loadBlocked();
});

// ------------------------------------------------------------------ detail panel

function openDetail(mint) {
  detailMint = mint;
  $("detail").hidden = false;
  refreshDetail();
}

function closeDetail() {
  detailMint = null;
  $("detail").hidden = true;
}

$("detail-close").addEventListener("click", closeDetail);
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && detailMint) closeDetail();
});

async function refreshDetail() {
  const mint = detailMint;
  const response = await fetch(`/api/token/${encodeURIComponent(mint)}`);
  if (mint !== detailMint) return;
  const d = await response.json();
  const body = $("detail-body");
  if (!response.ok) {
    body.replaceChildren(el("p", { text: d.error }));
    return;
  }
  const meta = d.metadata || {};
  const agg = d.aggregate || {};
  const facts = [
    ["mint", d.mint],
    ["name", meta.token_name || meta.name || "—"],
    ["symbol", meta.token_symbol || meta.symbol || "—"],
    ["programs", agg.programs || "—"],
    ["price SOL", fmtPrice(agg.price_sol)],
    ["market cap SOL", fmtSol(agg.market_cap_sol)],
    ["bonding progress", agg.bonding_progress == null ? "—" : `${(100 * agg.bonding_progress).toFixed(1)} %`],
    ["first row", fmtUtc(agg.first_ts)],
    ["last trade", fmtUtc(agg.last_trade_ts)],
    ["persistence", d.summary ? `${d.summary.persistence_score} (${d.summary.pattern_tag}, ${d.summary.confidence})` : "—"],
    ["blocked", d.blocked && d.blocked.active ? `yes (${d.blocked.reason || "no reason"})` : "no"],
    ["followed", d.followed ? "yes" : "no"],
  ];
  for (const [key, value] of Object.entries(meta)) {
    if (!["mint", "name", "symbol", "token_name", "token_symbol"].includes(key)) {
      facts.push([key, value == null ? "—" : String(value)]);
    }
  }
  const table = (headers, lines) =>
    el("table", {}, el("thead", {}, el("tr", {}, ...headers.map((h) => el("th", { text: h })))),
      el("tbody", {}, ...lines.map((line) => el("tr", {}, ...line.map((v) => el("td", { text: v }))))));
  body.replaceChildren(
    el("h2", { text: (meta.token_name || meta.name) ? `${meta.token_name || meta.name} (${meta.token_symbol || meta.symbol || "—"})` : shortMint(d.mint) }),
    el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })])),
    el("h3", { text: "windows" }),
    table(["window", "net flow", "buys", "sells", "bought", "sold", "wallets", "bots", "DCA"],
      d.windows.map((w) => [fmtWindow(w.window), fmtSol(w.net_flow_sol, true), w.buy_count, w.sell_count,
        fmtSol(w.buy_volume_sol), fmtSol(w.sell_volume_sol), w.unique_wallets, w.bot_wallets ?? "—", w.dca_buys])),
    el("h3", { text: `signals (${d.signals.length})` }),
    table(["time", "state", "signal", "severity", "score"],
      d.signals.map((s) => [fmtUtc(s.ts), s.state, s.signal_type, s.severity ?? "—", s.score == null ? "—" : s.score.toFixed(2)])),
    el("h3", { text: `latest trades${d.trades_source ? ` (${d.trades_source})` : ""}` }),
    d.trades.length
      ? table(["time", "program", "side", "trader", "tokens", "quote"],
        d.trades.map((t) => [fmtUtc(t.block_time), t.program, t.direction, shortMint(t.trader),
          t.token_amount == null ? String(t.token_amount_raw) : t.token_amount.toLocaleString("en-US"),
          t.quote_amount == null ? String(t.quote_amount_raw) : t.quote_amount.toFixed(4)]))
      : el("p", { class: "hint", text: "no trades stored for it (SOLFLOW_LEGACY=sqlite keeps them in SQLite)" }),
  );
}

// ------------------------------------------------------------------ start

for (const chip of document.querySelectorAll(".chip")) {
  chip.setAttribute("aria-pressed", String(state.programs.has(chip.dataset.program)));
}
$("search").value = state.q;
$("dca-only").checked = state.dca;
$("hide-graduated").checked = state.hide_graduated;
$("min-flow").value = state.min_nf300;
showSort();
connect();
