// What an invite link carries: the room in the query (?room=R), the room token and the
// end-to-end encryption key in the fragment (#token=T&key=EPOCH:KEY). Browsers never send a
// URL's fragment to any server, and the page makes no request to another origin, so the
// token goes only to this server's signaling socket and the key nowhere at all.

/** {room, token, key} from a page URL; missing parts are "" / null. */
export function readInvite(href) {
  const url = new URL(href);
  const fragment = new URLSearchParams(url.hash.slice(1));
  return { room: url.searchParams.get("room") || "", token: fragment.get("token") || null,
    key: fragment.get("key") || null };
}

/** The address to show after joining `room`: the room in the query, the fragment kept (a reload
 *  or a shared link still carries the invitation). */
export function roomAddress(href, room) {
  const url = new URL(href);
  return `?room=${encodeURIComponent(room)}${url.hash}`;
}
