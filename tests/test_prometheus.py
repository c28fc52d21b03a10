"""A real Prometheus (Debian's) scrapes a running server during a call; its HTTP API must show
the counters moving the way the call did: participants, packets relayed, injected loss."""
import asyncio
import shutil
import socket
import subprocess
from pathlib import Path

import aiohttp
import pytest

from loadgen.peer import SyntheticPeer
from tests.utils import start_server

ALERTS = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "alerts.yml"
PACKETS = 100
# Every 10th packet withheld (isolated losses the redundancy repairs), plus a burst of six
# (12 frames: longer than the 8 frames of redundancy, so some frames stay lost).
SKIP = frozenset(range(10, PACKETS, 10)) | frozenset(range(51, 57))

pytestmark = pytest.mark.network


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """Debian's prometheus as a child process on loopback, scraping one target twice a second."""

    def __init__(self, tmp: Path, target: str) -> None:
        exe = shutil.which("prometheus")
        if exe is None:
            pytest.skip("prometheus is not installed (scripts/setup.sh installs Debian's)")
        self.url = f"http://127.0.0.1:{free_port()}"
        config = tmp / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 500ms, evaluation_interval: 500ms}\n"
            f"rule_files: ['{ALERTS}']\n"
            "scrape_configs:\n"
            "  - job_name: focalcall\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n")
        self.log = tmp / "prometheus.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [exe, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'tsdb'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}", "--log.level=warn"],
                stdout=log, stderr=subprocess.STDOUT)

    async def query(self, http: aiohttp.ClientSession, expr: str) -> float | None:
        """The single value of an instant query, ``None`` when it has no sample."""
        async with http.get(self.url + "/api/v1/query", params={"query": expr}) as r:
            r.raise_for_status()  # 503 while starting
            body = await r.json()
        assert body["status"] == "success", body
        result = body["data"]["result"]
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    async def until(self, http: aiohttp.ClientSession, expr: str, want: float, timeout: float = 20.0) -> None:
        """Wait until Prometheus has scraped ``expr == want``; fail with the last value seen."""
        value = None
        for _ in range(int(timeout / 0.25)):
            if self.process.poll() is not None:
                pytest.fail(f"prometheus exited: {self.log.read_text()[-2000:]}")
            try:
                value = await self.query(http, expr)
            except aiohttp.ClientError:
                pass  # still starting
            if value == want:
                return
            await asyncio.sleep(0.25)
        pytest.fail(f"{expr} = {value}, expected {want}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def test_prometheus_sees_the_call(tmp_path):
    server, runner, url = await start_server()
    prometheus = Prometheus(tmp_path, url.removeprefix("http://").rstrip("/"))
    a = SyntheticPeer(url, "prom", "A")
    b = SyntheticPeer(url, "prom", "B")
    try:
        async with aiohttp.ClientSession() as http:
            await prometheus.until(http, 'up{job="focalcall"}', 1)
            await prometheus.until(http, "focalcall_participants", 0)
            await a.start()
            await b.start()
            await prometheus.until(http, "focalcall_participants", 2)
            await prometheus.until(http, "focalcall_rooms", 1)
            # the server learns the codec from the packets' payload type (focal-800 here), but
            # not its delay, which the mouth-to-ear estimate needs: given by hand
            sender = server.rooms.rooms["prom"].participants[a.id]
            server.metrics.set_sender_codec(sender, "focal-800", delay_s=0.04)

            await a.send(PACKETS, skip=SKIP)
            await prometheus.until(http, 'focalcall_senders{codec="focal-800"}', 1)
            assert await prometheus.query(http, "sum(focalcall_senders)") == 1
            await b.drain(a.id, PACKETS * a.config.frames_per_packet)
            assert b.send_report(a.id)
            sent = PACKETS - len(SKIP)
            assert a.stats.packets_sent == sent and b.stats.packets_received[a.id] == sent

            await prometheus.until(http, "focalcall_packets_received_total", sent)
            await prometheus.until(http, "focalcall_packets_relayed_total", sent)
            await prometheus.until(http, "focalcall_client_packets_lost_total", len(SKIP))
            reports = b.stats.reports_sent
            await prometheus.until(http, "focalcall_client_reports_total", reports)
            assert await prometheus.query(http, "focalcall_client_report_streams") == 1
            assert await prometheus.query(http, "focalcall_bytes_relayed_total") > sent * 9
            # redundancy repaired frames; the six-packet burst left some concealed; the server
            # counts exactly what B's jitter buffer reported
            heard = b.buffers[a.id].stats
            recovered = heard.frames_recovered_redundancy + heard.frames_recovered_parity
            assert recovered > 0 and heard.frames_concealed > 0
            assert await prometheus.query(http, "focalcall_client_frames_recovered_total") == recovered
            assert await prometheus.query(http, "focalcall_client_frames_concealed_total") == heard.frames_concealed
            assert await prometheus.query(http, 'focalcall_client_loss_ratio_sum{stage="before_recovery"}') > 0
            assert await prometheus.query(http, 'focalcall_client_loss_ratio_sum{stage="after_recovery"}') > 0
            assert await prometheus.query(http, "focalcall_mouth_to_ear_seconds_count") == reports
            assert await prometheus.query(http, 'focalcall_client_loss_burst_packets_bucket{le="50.0"}') == reports
            assert await prometheus.query(http, "focalcall_client_loss_burst_packets_bucket{le=\"3.0\"}") < reports
            assert await prometheus.query(http, "sum(focalcall_malformed_packets_total) or vector(0)") == 0

            await a.stop()
            await b.stop()
            await prometheus.until(http, "focalcall_participants", 0)
            await prometheus.until(http, "focalcall_client_report_streams", 0)
            await prometheus.until(http, 'focalcall_senders{codec="focal-800"}', 0)
            async with http.get(prometheus.url + "/api/v1/rules") as r:
                rules = (await r.json())["data"]["groups"][0]["rules"]
            assert {rule["name"] for rule in rules} == {"FocalcallServerDown", "FocalcallPostRecoveryLossHigh",
                                                        "FocalcallConcealmentHigh", "FocalcallWorkersRestarting"}
            assert all(rule["health"] == "ok" for rule in rules), rules
    finally:
        await a.stop()
        await b.stop()
        prometheus.stop()
        await runner.cleanup()
