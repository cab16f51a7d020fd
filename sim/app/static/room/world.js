// The world as the projector and the teacher's console show it: the chart the server drew
// (with its numbers as a table behind "Show the numbers"), the events so far, and which
// groups have sent their moves (said in words, not by colour alone).

import { chart, el, played } from "./common.js";

/** The nodes of a "projector" message. */
export function world(p) {
  const numbers = el("div", { class: "scroll" });
  numbers.innerHTML = p.table || "";
  return [
    el("p", { class: "quarter-line" }, played(p)),
    chart(p.chart),
    el("details", {}, el("summary", {}, "Show the numbers"), numbers),
    el("h3", {}, "Events so far"),
    p.events.length
      ? el("ol", { class: "events" }, p.events.map((e) => el("li", {}, `${e.date}: ${e.label}`)))
      : el("p", { class: "note" }, "None yet."),
    el("h3", {}, "Groups"),
    p.groups.length
      ? el("ul", { class: "groups-list" }, p.groups.map(groupItem))
      : el("p", { class: "note" }, "No group has joined yet."),
  ];
}

function groupItem(g) {
  const what = g.chosen ? "moves sent" : "choosing";
  return el("li", { class: g.chosen ? "chosen" : "" }, `${g.name} (${g.state_name || "no state yet"}): ${what}`);
}
