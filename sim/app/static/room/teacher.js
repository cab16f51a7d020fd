// The teacher's console: the join address and code, the quarter (advance, advance when
// everyone has chosen, a timer), the groups (give a state, remove), the shocks (fire,
// hold), the world as the projector shows it, and the debrief at the end.

import { announce, chart, connect, countdown, el, fill, played, signed, table } from "./common.js";
import { world } from "./world.js";

const key = new URLSearchParams(location.search).get("key") || "";
let status = null; // the latest "status" message
let lastQuarter = null;

const link = connect(() => ({ type: "hello", view: "teacher", key }), receive);

function receive(msg) {
  const handlers = {
    welcome: welcome,
    status: (m) => { status = m; renderStatus(); },
    projector: (m) => fill("world", world(m)),
    debrief: renderDebrief,
    busy: (m) => announce(m.message),
    error: (m) => announce(m.message, true),
  };
  (handlers[msg.type] || (() => {}))(msg);
}

function welcome(msg) {
  document.getElementById("join-url").textContent = msg.join_url;
  document.getElementById("room-code").textContent = msg.code;
  document.getElementById("projector-link").href = msg.projector_url;
  document.getElementById("log-link").href = msg.log_url;
  document.getElementById("replay-note").hidden = !msg.replay;
}

function send(msg, saying) {
  if (link.send(msg) && saying) announce(saying);
}

// ---- the status -------------------------------------------------------------------

function renderStatus() {
  const s = status;
  document.getElementById("quarter").textContent = played({ ...s, finished: s.finished || s.ended });
  const advance = document.getElementById("advance");
  advance.textContent = `Advance to next quarter (${s.chosen} of ${s.playing} groups have chosen)`;
  advance.disabled = s.finished || s.replay;
  document.getElementById("auto").checked = s.auto;
  countdown("timer-left", s.seconds_left, "Next quarter in ");
  if (s.timer && document.activeElement.id !== "timer-seconds") {
    document.getElementById("timer-seconds").value = Math.round(s.timer);
  }
  if (lastQuarter !== null && lastQuarter !== s.quarter) announce(`Quarter ${s.quarter} played.`);
  lastQuarter = s.quarter;
  fill("groups", groupsTable(s));
  fill("shocks", shocksTable(s));
  fillShockChoice(s.shocks);
}

function groupsTable(s) {
  if (!s.groups.length) return el("p", { class: "note" }, "No group has joined yet.");
  const rows = s.groups.map((g) => ({
    cells: [
      g.name,
      g.state_name || "none yet",
      g.state ? (g.chosen ? "sent" : "not yet") : "",
      g.connected ? "yes" : "no",
      [giveState(g, s.free_states), { class: "text" }],
      [el("button", { type: "button", class: "danger", onclick: () => removeGroup(g) }, `Remove ${g.name}`), {}],
    ],
  }));
  return table("Groups", ["Group", "State", "Moves", "Connected", ["Give a state", { class: "text" }], "Remove"], rows);
}

function giveState(g, free) {
  if (!free.length) return el("span", { class: "note" }, "no free state");
  const id = `give-${g.id}`;
  const select = el("select", { id, "aria-label": `State for ${g.name}` },
    free.map((f) => el("option", { value: f.id }, f.name)));
  const button = el("button", {
    type: "button", class: "secondary",
    onclick: () => send({ type: "assign", group: g.id, state: select.value }, `Giving ${g.name} a state…`),
  }, `Give to ${g.name}`);
  return el("span", { class: "row" }, select, button);
}

function removeGroup(g) {
  if (window.confirm(`Remove group “${g.name}”? Its state goes back to its computer agent.`)) {
    send({ type: "remove", group: g.id }, `Removing ${g.name}…`);
  }
}

function shocksTable(s) {
  if (!s.shocks.length) return el("p", { class: "note" }, "This scenario has no shocks.");
  const rows = s.shocks.map((k) => ({
    cells: [
      [k.label, { class: "text" }],
      k.when,
      k.status,
      [shockButton("fire", "Fire", k, !k.can_fire || s.replay), {}],
      [shockButton("hold", "Hold", k, !k.can_hold || s.replay), {}],
    ],
  }));
  return table("Shocks", [["Shock", { class: "text" }], "When", "Status", "Fire", "Hold"], rows);
}

/** "Fire" or "Hold", named for its shock for screen readers (the shock's name is in its row). */
function shockButton(kind, verb, shock, disabled) {
  return el("button", {
    type: "button", class: kind === "hold" ? "secondary" : "", disabled, id: `${kind}-${shock.id}`,
    onclick: () => send({ type: kind, shock: shock.id }, `${verb}: “${shock.label}”…`),
  }, verb, el("span", { class: "visually-hidden" }, ` ${shock.label}`));
}

function fillShockChoice(shocks) {
  const select = document.getElementById("debrief-shock");
  const before = select.value;
  const options = [el("option", { value: "" }, "the first shock that fired (if any)"),
    ...shocks.map((k) => el("option", { value: k.id }, k.label))];
  select.replaceChildren(...options);
  if ([...select.options].some((o) => o.value === before)) select.value = before;
}

// ---- the debrief ------------------------------------------------------------------

function renderDebrief(d) {
  if (d.type !== "debrief") return;
  const parts = [
    el("h3", {}, "Each group beside the computer"),
    el("p", { class: "note" }, "Each chart shows a group's state as the group played it and as its computer agent would have played it, in the same world."),
    ...d.paths.map((p) => chart(p.chart)),
    el("h3", {}, "Points over the game"),
    table("Points over the game", ["Group", "State", "Group’s points", "Computer’s points", "Difference"],
      d.totals.map((t) => ({ cells: [t.group, t.state_name, signed(t.points, 1), signed(t.agent_points, 1), signed(t.points - t.agent_points, 1)] }))),
  ];
  if (d.compare) {
    parts.push(
      el("h3", {}, `With and without: ${d.compare.label}`),
      el("p", {}, d.compare.summary),
      chart(d.compare.chart),
    );
  }
  fill("debrief", parts);
  announce("The debrief is ready.");
}

document.getElementById("advance").addEventListener("click", () => send({ type: "advance" }, "Advancing…"));
document.getElementById("auto").addEventListener("change", (e) => send({ type: "auto", on: e.target.checked }));
document.getElementById("timer-start").addEventListener("click", () => {
  const seconds = Number(document.getElementById("timer-seconds").value);
  if (!(seconds >= 5 && seconds <= 3600)) {
    announce("Seconds per quarter: a number from 5 to 3600.", true);
    return;
  }
  send({ type: "timer", seconds }, `Timer started: ${seconds} s per quarter.`);
});
document.getElementById("timer-stop").addEventListener("click", () => send({ type: "timer", seconds: null }, "Timer stopped."));
document.getElementById("debrief-button").addEventListener("click", () => {
  const shock = document.getElementById("debrief-shock").value || null;
  send({ type: "debrief", shock }, "Computing the debrief (it runs many seeds)…");
});
