"""Regenerate the call page's screenshots shown in web/README.md, and check their layout.

Usage: ``.venv/bin/python scripts/web_screenshots.py [--out web/screenshots]``. Runs a loopback
server and headless Chromium (Debian's), puts three people in a call (one talking, one muted,
one listening) and shoots the page at 390x844 (a phone) and 1280x800, in the call and on an
invitee's join form. Exits non-zero if a control overlaps another, leaves the screen or clips
its text (the same check as tests/test_web_ui.py).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.test_web import CHROMIUM, FLAGS, SHIPPED, ServerThread  # noqa: E402
from tests.utils import SENTENCES, espeak_wav  # noqa: E402
from tests.web_layout import call_screens  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "web" / "screenshots")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    from codec.wavio import read_wav, write_wav

    server = ServerThread(SHIPPED)
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
            speech = read_wav(espeak_wav(Path(tmp) / "speech.wav", " ".join(SENTENCES)), 16000)
            mic = Path(tmp) / "mic.wav"
            write_wav(mic, np.concatenate([np.zeros(8000, np.float32), speech]), 16000)
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                         args=[*FLAGS, f"--use-file-for-fake-audio-capture={mic}"])
            screens = call_screens(browser, server.url, args.out, settle_s=20)  # past the start-up's load
            browser.close()
    finally:
        server.close()
    failed = False
    for name, (problems, path) in sorted(screens.items()):
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: "
              f"{'; '.join(problems) if problems else 'layout ok'}")
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
