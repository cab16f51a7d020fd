// What every page of the classroom world shares: the websocket (it reconnects by itself,
// with growing pauses, and says so), the live region, and small DOM helpers. Text from the
// server always goes in as text (never as HTML), except the charts' SVG, which the server
// draws from the model's numbers and escapes.

const RETRY_MS = [500, 1000, 2000, 4000, 8000];

/**
 * Open the page's websocket and keep it open.
 * @param {() => object|null} hello  the first message after each (re)connection
 * @param {(msg: object) => void} onMessage  called with every message from the server
 * @returns {{send: (msg: object) => boolean}}
 */
export function connect(hello, onMessage) {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  let socket = null;
  let failures = 0;
  let everOpen = false;

  function open() {
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      failures = 0;
      showConnection(true, everOpen);
      everOpen = true;
      const first = hello();
      if (first) socket.send(JSON.stringify(first));
    });
    socket.addEventListener("message", (event) => {
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(msg);
    });
    socket.addEventListener("close", () => {
      showConnection(false, everOpen);
      const pause = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)];
      failures += 1;
      setTimeout(open, pause + Math.floor(Math.random() * 250));
    });
  }

  open();
  return {
    send(msg) {
      if (!socket || socket.readyState !== WebSocket.OPEN) {
        announce("Not connected: reconnecting… try again in a moment.");
        return false;
      }
      socket.send(JSON.stringify(msg));
      return true;
    },
  };
}

function showConnection(up, wasOpen) {
  const node = document.getElementById("connection");
  if (!node) return;
  node.textContent = up ? "connected" : wasOpen ? "reconnecting…" : "connecting…";
  node.className = "connection " + (up ? "up" : "down");
  if (wasOpen) announce(up ? "Connected again." : "Connection lost: reconnecting…");
}

/** Say something in the page's polite live region (and show it). */
export function announce(text, isError = false) {
  const node = document.getElementById("status");
  if (!node) return;
  node.textContent = text;
  node.classList.toggle("error", isError);
}

/**
 * A new element: el("td", {class: "total", "data-label": "Total"}, "3").
 * Strings and numbers become text nodes; null and false children are skipped.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace the children of the element with id ``id``; keeps the focus where it was. */
export function fill(id, ...children) {
  const node = document.getElementById(id);
  const focused = document.activeElement && document.activeElement.id;
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== false));
  if (focused && node.querySelector("#" + CSS.escape(focused))) {
    document.getElementById(focused).focus();
  }
  return node;
}

/** Show the sections named in ``shown`` and hide the others of ``all``. */
export function showOnly(all, shown) {
  for (const id of all) document.getElementById(id).hidden = !shown.includes(id);
}

/** An inline SVG chart drawn by the server (its own title and description inside). */
export function chart(svg) {
  const box = el("div", { class: "chart" });
  box.innerHTML = svg || "";
  return box;
}

/** A table: a caption, header cells, and rows of cells (text, or [text, attrs]). */
export function table(caption, head, rows, attrs = {}) {
  const cell = (tag, value) =>
    Array.isArray(value) ? el(tag, value[1], value[0]) : el(tag, {}, value);
  return el(
    "div",
    { class: "scroll" },
    el(
      "table",
      attrs,
      caption ? el("caption", { class: "visually-hidden" }, caption) : null,
      el("thead", {}, el("tr", {}, head.map((h) => cell("th", h)))),
      el("tbody", {}, rows.map((r) => el("tr", r.attrs || {}, r.cells.map((c) => cell("td", c))))),
    ),
  );
}

/** A number with its sign as students read it: "+3", "−2" (a true minus), "0". */
export function signed(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "n/a";
  const text = Math.abs(value).toFixed(digits);
  if (Number(text) === 0) return text;
  return (value > 0 ? "+" : "\u2212") + text;
}

/** Where the game is, in words: "After 3 of 52 quarters (the world on 2018-09-30)". */
export function played(p) {
  if (p.finished) return `The game is over: the world on ${p.date}.`;
  return `After ${p.quarter} of ${p.n_periods} quarters (the world on ${p.date})`;
}

/** A countdown in words: "1 min 05 s", "40 s". */
export function seconds(total) {
  const s = Math.max(0, Math.round(total));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, "0")} s` : `${s} s`;
}

/** A countdown shown in element ``id``, from ``left`` seconds (null: none). */
export function countdown(id, left, prefix) {
  const node = document.getElementById(id);
  clearInterval(node._timer);
  if (left === null || left === undefined) {
    node.textContent = "";
    return;
  }
  const end = Date.now() + left * 1000;
  const show = () => {
    node.textContent = prefix + seconds((end - Date.now()) / 1000);
  };
  show();
  node._timer = setInterval(show, 1000);
}
