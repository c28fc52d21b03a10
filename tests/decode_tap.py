"""``python -m tests.decode_tap LOG.json join ROOM ...`` runs ``focalcall`` unchanged, with a tap
that records what each remote stream's decoder was given: at exit LOG.json holds
``{sender id: [[media timestamp or null, code hex or null], ...]}`` in decode order, the
command line's counterpart of the page's ``window.focalcall.marks().decoded``."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from client.remote import Playout, RemoteStream
from focalcall.cli import main

_log: dict[int, list] = {}
_lock = threading.Lock()
_decode = RemoteStream.decode


def _tapped(self: RemoteStream, playout: Playout):
    with _lock:
        _log.setdefault(self.sender_id, []).append(
            [playout.timestamp, None if playout.payload is None else playout.payload.hex()])
    return _decode(self, playout)


if __name__ == "__main__":
    out = Path(sys.argv[1])
    RemoteStream.decode = _tapped
    code = main(sys.argv[2:])
    with _lock:
        out.write_text(json.dumps(_log))
    sys.exit(code)
