// Invite links (web/js/invite.js): what the page reads from its URL.
import assert from "node:assert/strict";
import { test } from "node:test";

import { readInvite, roomAddress } from "../../web/js/invite.js";

test("room from the query, token and key from the fragment", () => {
  const key = "3:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
  const href = `https://calls.example.com/?room=stand.up#token=eyJh.eyJz.c2ln&key=${key}`;
  assert.deepEqual(readInvite(href), { room: "stand.up", token: "eyJh.eyJz.c2ln", key });
  assert.deepEqual(readInvite("http://127.0.0.1:8080/"), { room: "", token: null, key: null });
  assert.equal(readInvite("http://h/?room=r#key=0:a,1:b").key, "0:a,1:b");
});

test("the address after joining keeps the invitation", () => {
  assert.equal(roomAddress("http://h/?room=a&autojoin=1#token=t", "a b"), "?room=a%20b#token=t");
  assert.equal(roomAddress("http://h/", "r"), "?room=r");
});
