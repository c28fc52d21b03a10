// Invite links: what the page was opened with (room, and any room token or end-to-end key) and
// the link that brings someone else into the same call. Secrets travel only in the fragment
// (`#token=…&key=…`): browsers never send a fragment to any server, nor in a Referer header,
// so a link pasted into a chat reaches no third party with them. Pure functions of URLs.

const SECRETS = ["token", "key"];

/** What a page URL carries: {room, name, token, key} (null when absent). Secrets are read from
 *  the fragment first, then from the query (links made before they moved to the fragment). */
export function readInvite(href) {
  const url = new URL(href);
  const query = url.searchParams;
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  const pick = (name) => fragment.get(name) || query.get(name) || null;
  return { room: query.get("room") || fragment.get("room") || null, name: query.get("name") || null,
    token: pick("token"), key: pick("key") };
}

/** The same page URL with any secret moved from the query into the fragment (for the address
 *  bar: history.replaceState), or null when nothing needs to move. */
export function withSecretsInFragment(href) {
  const url = new URL(href);
  if (!SECRETS.some((name) => url.searchParams.has(name))) return null;
  const invite = readInvite(href);
  const fragment = new URLSearchParams(url.hash.replace(/^#/, ""));
  for (const name of SECRETS) {
    url.searchParams.delete(name);
    if (invite[name]) fragment.set(name, invite[name]);
  }
  url.hash = fragment.toString();
  return url.href;
}

/** The link that opens `room` on this page's origin, with the token and key it was opened
 *  with (in the fragment), and nothing personal (no name, no test switches). */
export function inviteLink(pageHref, { room, token = null, key = null }) {
  if (!room) throw new RangeError("an invite link needs a room");
  const url = new URL(pageHref);
  url.search = new URLSearchParams({ room }).toString();
  const fragment = new URLSearchParams();
  if (token) fragment.set("token", token);
  if (key) fragment.set("key", key);
  url.hash = fragment.toString();
  return url.href;
}
