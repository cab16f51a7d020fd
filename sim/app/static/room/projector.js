// The projector's page: the shared world, big, for the whole class; it changes only when
// the room does. It signs in with the teacher's key from its own address.

import { announce, connect, fill } from "./common.js";
import { world } from "./world.js";

const key = new URLSearchParams(location.search).get("key") || "";

connect(() => ({ type: "hello", view: "projector", key }), (msg) => {
  if (msg.type === "welcome") {
    document.getElementById("join-line").textContent = `Join at ${msg.join_url} with code ${msg.code}`;
  } else if (msg.type === "projector") {
    document.getElementById("title").textContent = msg.title;
    fill("world", world(msg));
  } else if (msg.type === "error") {
    announce(msg.message, true);
  }
});
