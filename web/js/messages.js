// What the page says, in words a person understands: the call's state for the status badge
// and the reasons a join failed (from the server's error codes or the connection).

export const STATE_WORDS = {
  idle: "Not in a call",
  loading: "Loading…",
  "needs-audio": "Waiting for a click to enable audio",
  connecting: "Joining…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  left: "You left the call",
  failed: "Not connected",
};

/** A sentence for a failed join: `code` from CallError (server codes, "unreachable", "ice"…). */
export function failureMessage(code, detail, { room, server }) {
  switch (code) {
    case "room-full":
      return `The call "${room}" is full. Try again when someone has left.`;
    case "bad-room":
    case "bad-name":
      return `The server did not accept this: ${detail}`;
    case "unreachable":
    case "network":
    case "timeout":
      return `Cannot reach the focalcall server at ${server}. Check your network connection, then try again.`;
    case "unauthorized":
      return `This invite does not (or no longer) let you into "${room}": ${detail} Ask for a new link.`;
    case "replaced":
      return "You joined this call from another tab or device, so this page left it.";
    case "ice":
      return "The audio connection to the server could not be set up: something on the way (a firewall, "
        + "a VPN or a browser setting) blocks it. Try another network, then try again.";
    default:
      return `The server refused to let you in: ${detail || code}`;
  }
}

/** The info line while retrying, from the call's detail ("reason; retrying in 4 s"). */
export function reconnectingMessage(detail, wasConnected) {
  const what = wasConnected ? "Connection lost — reconnecting automatically"
    : "Not connected yet — trying again automatically";
  return `${what} (${detail || "retrying"}).`;
}

/** A sentence when others' packets stopped opening here (`dropped`: the worker's end-to-end drop
 *  counts, `before`: the last ones seen), or null: they encrypt without this page's key. */
export function e2eeMessage(dropped, before, decoding) {
  const grew = (reason) => (dropped[reason] || 0) > (before[reason] || 0);
  if (grew("sealed-no-key")) {
    return "Others here encrypt their audio end to end: open the invite link that carries the room key.";
  }
  if (grew("undecryptable") && !decoding) {
    return "Others here encrypt their audio with a different room key: ask for a new invite link.";
  }
  return null;
}
