// The students' page: join the room, pick a state (or wait to be given one), then the
// group's card: its ties, what each move would pay and cost, and "Send our moves".
// The group's token stays in localStorage, so a reload or a dropped connection gets the
// group's state back.

import { announce, connect, countdown, el, fill, played, showOnly, signed, table } from "./common.js";

const SECTIONS = ["join", "pick", "card", "summary"];
const STORE = "multivector-room";
// The payoff terms of a move, in the order the card shows them, and their headings.
const TERMS = [
  ["energy", "Energy"],
  ["security", "Security"],
  ["alignment", "Alignment"],
  ["tie_cost", "Cost of ties"],
  ["move_cost", "Cost of moving"],
];
const MOVE_NAMES = { down: "Down", stay: "Stay", up: "Up" };

let saved = JSON.parse(localStorage.getItem(STORE) || "null");
let room = null; // the latest "room" message
let card = null; // the latest "card" message
let draft = {}; // partner -> move, as the group has set it on this page
let draftQuarter = null;
let showChances = false;
let sending = false; // "Send our moves" pressed, the card saying so not back yet

const link = connect(hello, receive);

function hello() {
  return saved ? { type: "rejoin", code: saved.code, token: saved.token } : null;
}

function receive(msg) {
  const handlers = {
    welcome: welcome,
    room: (m) => { room = m; render(); },
    card: newCard,
    error: (m) => failed(m.message),
    removed: (m) => forget(m.message),
  };
  (handlers[msg.type] || (() => {}))(msg);
}

function newCard(msg) {
  const before = card;
  card = msg;
  if (before && before.quarter !== card.quarter && !card.finished) {
    announce(`Quarter ${card.quarter} played: choose your moves for the next one.`);
  } else if (sending && card.chosen) {
    announce("Moves sent.");
  } else if (before && !before.state && card.state) {
    announce(`You play ${card.state_name}.`);
  }
  sending = false;
  render();
}

function welcome(msg) {
  const code = saved ? saved.code : document.getElementById("code").value.trim();
  saved = { code, token: msg.token };
  localStorage.setItem(STORE, JSON.stringify(saved));
  announce(`Joined as group “${msg.name}”.`);
}

function failed(message) {
  // a stored group that this room does not know (removed, or a new room): join again
  if (!card && saved && /group|code|replay/i.test(message)) forget();
  announce(message, true);
}

/** Forget the group on this device and show the join form again. */
function forget(message) {
  localStorage.removeItem(STORE);
  saved = null;
  card = null;
  render();
  if (message) announce(message, true);
}

// ---- rendering ------------------------------------------------------------------

function render() {
  if (!card) {
    showOnly(SECTIONS, saved ? [] : ["join"]);
    return;
  }
  if (card.finished) {
    renderSummary();
    showOnly(SECTIONS, ["summary"]);
  } else if (!card.state) {
    renderPick();
    showOnly(SECTIONS, ["pick"]);
  } else {
    renderCard();
    showOnly(SECTIONS, ["card"]);
  }
}

function renderPick() {
  const free = room ? room.free_states : [];
  fill(
    "pick-body",
    el("p", {}, `Group “${card.group.name}”: choose the state you will play, or wait for the teacher to give you one.`),
    free.length
      ? el("div", { class: "row" }, free.map((s) =>
          el("button", { type: "button", id: `pick-${s.id}`, onclick: () => link.send({ type: "pick", state: s.id }) }, `Play ${s.name}`)))
      : el("p", { class: "note" }, "No state is free right now: wait for the teacher."),
  );
}

function renderCard() {
  if (draftQuarter !== card.quarter) {
    draft = Object.fromEntries(card.options.map((o) => [o.partner, card.picked[o.partner] || "stay"]));
    draftQuarter = card.quarter;
  }
  fill("card-head",
    el("h2", {}, `Group “${card.group.name}”: you play ${card.state_name}`),
    el("p", {}, played(card)),
    el("p", { id: "card-timer", class: "note" }),
  );
  countdown("card-timer", room ? room.timer_left : null, "Next quarter in ");
  document.getElementById("moves-title").textContent = `Your moves for the quarter to ${card.next_date}`;
  fill("situation", situation());
  fill("last-quarter", lastQuarter());
  fill("moves", card.options.map(partnerMoves));
  const sent = card.chosen
    ? "Your moves are sent. You can change them until the teacher moves to the next quarter."
    : "Not sent yet: choose a move for each partner, then press “Send our moves”.";
  fill("sent-note", el("p", { class: card.chosen ? "" : "note" }, sent), waiting());
}

function situation() {
  return table(
    "Your ties now",
    ["Partner", "Tie now (−1 to +1)"],
    card.ties.map((t) => ({ cells: [t.name, signed(t.tie, 2)] })),
  );
}

function lastQuarter() {
  const last = card.last_quarter;
  if (!last) return el("p", { class: "note" }, "Nothing yet: this is the first quarter.");
  const moved = last.my_moves.filter((m) => m.move !== "stay");
  const mine = moved.length
    ? moved.map((m) => `You moved your tie to ${m.name} ${m.move}: ${signed(m.tie_before, 2)} → ${signed(m.tie_after, 2)}.`)
    : ["You kept every tie as it was."];
  return [
    el("p", {}, `In the quarter that ended ${last.date} your state earned ${signed(last.payoff, 1)} points.`),
    el("ul", {}, [...mine, ...last.what_happened].map((line) => el("li", {}, line))),
  ];
}

function waiting() {
  if (!room) return null;
  return el("p", { class: "note" }, `${room.chosen} of ${room.groups} groups have sent their moves.`);
}

/** One partner: a fieldset whose radio buttons are the three moves (the columns), each
 * with what it would bring and cost against staying, in points (the rows), and the total. */
function partnerMoves(option) {
  const held = option.pinned ? " (held by a shock: it cannot move)" : "";
  const moves = option.moves;
  const mark = (m) => (draft[option.partner] === m.move ? "picked" : "");
  const cell = (m, text, cls) => el("td", { class: `${mark(m)} ${cls}`.trim(), "data-move": m.move }, text);
  const row = (name, value, cls = "") =>
    el("tr", { class: cls }, el("th", { scope: "row" }, name), moves.map((m) => cell(m, value(m), cls)));
  const head = el("tr", {}, el("td", {}),
    moves.map((m) => el("th", { scope: "col", class: mark(m), "data-move": m.move }, moveChoice(option, m))));
  const body = [
    row("Tie after", (m) => signed(m.tie_after, 2)),
    ...TERMS.map(([key, name]) => row(name, (m) => signed(m[key], 1))),
    row("Total (points)", (m) => signed(m.total, 1), "total"),
    showChances && moves.some((m) => m.agent_chance !== null)
      ? row("Computer’s chance", (m) => (m.agent_chance === null ? "–" : `${Math.round(m.agent_chance * 100)}%`), "chance")
      : null,
  ];
  return el(
    "fieldset",
    { class: "partner", "data-partner": option.partner },
    el("legend", {}, `${option.name}: tie now ${signed(option.tie, 2)}${held}`),
    el("div", { class: "scroll" }, el("table", { class: "moves" },
      el("caption", { class: "visually-hidden" }, `What each move of your tie to ${option.name} would bring and cost, in points`),
      el("thead", {}, head), el("tbody", {}, body))),
  );
}

function moveChoice(option, m) {
  const id = `move-${option.partner}-${m.move}`;
  const radio = el("input", {
    type: "radio", id, name: `move-${option.partner}`, value: m.move,
    checked: draft[option.partner] === m.move,
    onchange: () => { draft[option.partner] = m.move; markColumn(option.partner); },
  });
  return el("span", { class: "move-choice" }, radio, el("label", { for: id }, MOVE_NAMES[m.move]));
}

function markColumn(partner) {
  for (const node of document.querySelectorAll(`fieldset[data-partner="${CSS.escape(partner)}"] [data-move]`)) {
    node.classList.toggle("picked", node.dataset.move === draft[partner]);
  }
}

function renderSummary() {
  fill("summary-body",
    el("h2", {}, `The game is over: group “${card.group.name}” played ${card.state_name || "no state"}`),
    el("ul", {}, (card.summary || []).map((line) => el("li", {}, line))),
    card.last_quarter ? lastQuarter() : null,
    el("p", { class: "note" }, "Look at the projector for the class debrief."),
  );
}

// ---- actions ----------------------------------------------------------------------

function join(event) {
  event.preventDefault();
  const code = document.getElementById("code").value.trim().toUpperCase();
  const name = document.getElementById("name").value.trim();
  if (!code || !name) {
    announce("Type the room code and your group's name.", true);
    return;
  }
  if (link.send({ type: "join", code, name })) announce("Joining…");
}

function sendMoves() {
  if (!card) return;
  if (link.send({ type: "choose", moves: draft })) {
    sending = true;
    announce("Sending your moves…");
  }
}

function toggleChances(event) {
  showChances = event.target.checked;
  if (card) renderCard();
}

document.getElementById("join-form").addEventListener("submit", join);
document.getElementById("send").addEventListener("click", sendMoves);
document.getElementById("moves-form").addEventListener("submit", (e) => e.preventDefault());
document.getElementById("chances").addEventListener("change", toggleChances);
const given = new URLSearchParams(location.search).get("code");
if (given) document.getElementById("code").value = given;
render();
