"""Debian's Firefox ESR for the browser tests: headless, driven over Marionette (PyPI
``marionette-driver``), its microphone and speakers a private PulseAudio server with two null
sinks: whatever is played into ``fc_mic`` is what Firefox captures (its monitor is the default
source), and Firefox plays into ``fc_out``. Everything lives in a temporary directory and
stops with the context managers; nothing touches another PulseAudio or Firefox profile."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

FIREFOX = shutil.which("firefox-esr")
PULSEAUDIO = shutil.which("pulseaudio")
PAPLAY = shutil.which("paplay")

# Prefs for a test profile. The two ICE prefs let Firefox reach a loopback server at all: it
# otherwise hides host addresses behind mDNS ".local" names and drops loopback candidates.
PREFS = {
    "media.navigator.permission.disabled": True,  # grant the microphone without a prompt
    "media.navigator.streams.fake": False,  # the real (PulseAudio) source
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "media.peerconnection.ice.loopback": True,
    "media.cubeb.backend": "pulse",
    "browser.shell.checkDefaultBrowser": False,
    "browser.startup.homepage_override.mstone": "ignore",
    "browser.aboutwelcome.enabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "toolkit.telemetry.reportingpolicy.firstRun": False,
    "app.update.disabledForTesting": True,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "extensions.update.enabled": False,
    "browser.newtabpage.enabled": False,
}


def unavailable_reason() -> str | None:
    """Why the Firefox tests cannot run here, or None."""
    missing = [name for name, path in (("firefox-esr", FIREFOX), ("pulseaudio", PULSEAUDIO), ("paplay", PAPLAY))
               if path is None]
    if missing:
        return f"{', '.join(missing)} not installed (scripts/setup.sh --test installs them)"
    try:
        import marionette_driver  # noqa: F401
    except ImportError:
        return "marionette-driver is not installed (the test extra)"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pulse:
    """A private PulseAudio server: ``env`` points clients at it."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.socket = directory / "native"
        self.env = {**os.environ, "PULSE_SERVER": f"unix:{self.socket}", "PULSE_RUNTIME_PATH": str(directory),
                    "XDG_RUNTIME_DIR": str(directory), "HOME": str(directory)}
        self.process: subprocess.Popen | None = None
        self._playing = threading.Event()

    def start(self) -> "Pulse":
        (self.dir / "state").mkdir(parents=True, exist_ok=True)
        argv = [PULSEAUDIO, "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no",
                "--system=no", "-n", "--log-target=stderr", "--log-level=error",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                "--load=module-null-sink sink_name=fc_mic rate=48000 channels=1",
                "--load=module-null-sink sink_name=fc_out rate=48000 channels=2"]
        env = {**self.env, "PULSE_STATE_PATH": str(self.dir / "state")}
        self.process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=open(self.dir / "pulse.log", "wb"))
        deadline = time.monotonic() + 15
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PulseAudio did not start: {(self.dir / 'pulse.log').read_text()[-2000:]}")
            time.sleep(0.1)
        self.pactl("set-default-source", "fc_mic.monitor")
        self.pactl("set-default-sink", "fc_out")
        return self

    def _ready(self) -> bool:
        return self.socket.exists() and subprocess.run(["pactl", "info"], env=self.env, capture_output=True,
                                                       timeout=10).returncode == 0

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], env=self.env, capture_output=True, text=True, timeout=10, check=True)
        return done.stdout

    def play_loop(self, wav: Path) -> None:
        """Play ``wav`` into the microphone sink over and over (until stop())."""
        self._playing.set()

        def loop() -> None:
            while self._playing.is_set():
                subprocess.run([PAPLAY, "--device=fc_mic", str(wav)], env=self.env, capture_output=True, timeout=120)

        threading.Thread(target=loop, daemon=True).start()

    def stop(self) -> None:
        self._playing.clear()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def firefox(directory: Path, pulse: Pulse, prefs: dict | None = None):
    """A headless Firefox ESR on a fresh profile, yielding a Marionette session."""
    from marionette_driver.marionette import Marionette

    profile = directory / "profile"
    profile.mkdir(parents=True)
    port = free_port()
    values = {**PREFS, **(prefs or {}), "marionette.port": port}
    (profile / "user.js").write_text("".join(f'user_pref("{k}", {_js(v)});\n' for k, v in values.items()))
    env = {**pulse.env, "MOZ_HEADLESS": "1", "MOZ_CRASHREPORTER_DISABLE": "1"}
    # System access: the tests switch prefs (Marionette's chrome context) between pages.
    process = subprocess.Popen([FIREFOX, "--headless", "--marionette", "-remote-allow-system-access", "--no-remote",
                                "--profile", str(profile),
                                "about:blank"], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(directory / "firefox.log", "wb"))
    client = None
    try:
        client = Marionette(host="127.0.0.1", port=port, socket_timeout=120, startup_timeout=120)
        client.start_session()
        client.timeout.script = 60
        yield client
    finally:
        if client is not None:
            try:
                client.delete_session()
            except Exception:  # noqa: BLE001 - the browser may already be gone
                pass
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _js(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace('"', '\\"') + '"'
