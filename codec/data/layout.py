"""Names the data commands share without loading the builders: corpus sources, dev-set home."""
from __future__ import annotations

from pathlib import Path

SOURCES = ("kokoro", "piper", "asterisk", "fillets", "festvox", "hedgewars", "megaglest", "warzone")
DEVSET_DIR = Path(__file__).resolve().parents[2] / "data" / "devset"
