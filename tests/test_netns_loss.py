"""The netem fallback on a real link: a network namespace joined by veth, iptables loss and the
NFQUEUE impairer on the clients' side, the server here. Loss must show on the wire (fewer packets
arrive than the server relayed) and in the metrics, together with its recovery by redundancy."""
import asyncio
import json
import os
import subprocess
import sys

import pytest
from aiohttp import web
from prometheus_client import generate_latest

from rtc.ice import IceSettings
from impair.netns import NamespaceImpairment, NetnsError, VethNamespace, clear_rules, unavailable_reason
from server.app import CallServer
from server.config import ServerConfig
from tests.utils import metric_value
from transport.netem import parse_netem

pytestmark = [pytest.mark.network]
REASON = unavailable_reason()
if REASON is not None:
    pytest.skip(f"network namespaces not permitted here: {REASON}", allow_module_level=True)

SUBNET = 16 + os.getpid() % 200  # 10.231.SUBNET.0/30: distinct per concurrent run
HOST_IP, NS_IP = f"10.231.{SUBNET}.1", f"10.231.{SUBNET}.2"
SECONDS = 3.0


@pytest.fixture
def netns():
    with VethNamespace(f"fcloss{os.getpid() % 100000}", HOST_IP, NS_IP) as ns:
        yield ns
    assert subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True).returncode != 0


@pytest.fixture
async def server(netns):
    srv = CallServer(ServerConfig(host=HOST_IP, port=0, ice=IceSettings(host_addresses=(HOST_IP,)), open_rooms=True))
    runner = web.AppRunner(srv.make_app())
    await runner.setup()
    site = web.TCPSite(runner, HOST_IP, 0)
    await site.start()
    yield srv, f"http://{HOST_IP}:{site._server.sockets[0].getsockname()[1]}/"
    await runner.cleanup()


async def call_in_namespace(netns, url: str, impairment: NamespaceImpairment) -> tuple[dict, list[dict]]:
    """A synthetic two-party call inside ``netns``; the impairment is on while packets flow."""
    process = await asyncio.create_subprocess_exec(
        *netns.exec_argv([sys.executable, "-m", "loadgen.peer", "--url", url, "--ice-host", NS_IP,
                          "--room", "lossy", "--seconds", str(SECONDS), "--wait"]),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        ready = await asyncio.wait_for(process.stdout.readline(), 30)
        assert ready.strip() == b"ready", (ready, await process.stderr.read())
        impairment.start()
        try:
            process.stdin.write(b"go\n")
            await process.stdin.drain()
            out, err = await asyncio.wait_for(process.communicate(), 60)
        finally:
            stats = impairment.stop()
        assert process.returncode == 0, err.decode()[-2000:]
        return json.loads(out.decode().strip().splitlines()[-1]), stats
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_iptables_loss_on_the_wire_and_its_recovery_in_the_metrics(netns, server):
    srv, url = server
    impairment = NamespaceImpairment(netns.name, parse_netem("loss 10%"), direction="in")
    assert impairment.iptables_loss == 0.1 and impairment.userspace is None
    result, _ = await call_in_namespace(netns, url, impairment)
    text = generate_latest(srv.metrics.registry).decode()
    relayed = metric_value(text, "focalcall_packets_relayed_total")
    # only what enters the namespace is impaired: the server got and relayed everything A sent
    assert metric_value(text, "focalcall_packets_received_total") == result["sent"] == relayed
    lost_on_wire = relayed - result["received"]
    assert lost_on_wire > 0
    # the receiver counts gaps in sequence numbers: losses at the very end are invisible to it
    counted = result["jitter_buffer"]["packets_lost"]
    assert 0 < counted <= lost_on_wire
    assert metric_value(text, "focalcall_client_packets_lost_total") == counted
    assert metric_value(text, "focalcall_client_reports_total") == result["reports"] > 0
    # isolated losses come back from the next packets' redundancy (whether in time for playout
    # depends on scheduling too, so the after-recovery ratio is not compared here)
    recovered = metric_value(text, "focalcall_client_frames_recovered_total")
    assert recovered == result["jitter_buffer"]["frames_recovered_redundancy"] > 0
    assert metric_value(text, "focalcall_client_loss_ratio_sum", 'stage="before_recovery"') > 0
    assert clear_rules(netns.name) == 0  # the impairment removed its rules


async def test_nfqueue_impairer_delays_and_iptables_drops(netns, server):
    pytest.importorskip("netfilterqueue", reason="PyPI netfilterqueue (the test extra) is not installed")
    srv, url = server
    impairment = NamespaceImpairment(netns.name, parse_netem("loss 10% delay 40ms 20ms"), direction="in", seed=7)
    assert impairment.userspace == parse_netem("delay 40ms 20ms")
    result, stats = await call_in_namespace(netns, url, impairment)
    (impairer,) = stats
    assert impairer["packets"] > 0 and impairer["delayed"] == impairer["packets"] - impairer["dropped"]
    assert impairer["dropped"] == 0  # the loss is iptables' job, before the queue
    # every relayed packet waited at least delay - jitter = 20 ms on its way in
    assert result["latency_min_ms"] >= 20.0
    text = generate_latest(srv.metrics.registry).decode()
    assert metric_value(text, "focalcall_packets_relayed_total") - result["received"] > 0
    assert metric_value(text, "focalcall_client_packets_lost_total") > 0
    assert result["jitter_buffer"]["jitter_ms"] > 0


def test_netem_apply_says_when_the_kernel_has_no_netem(netns):
    # run inside the namespace, on its own link, so a kernel that has netem impairs nothing else
    focalcall = [sys.executable, "-m", "focalcall", "netem"]
    spec = "loss 10% delay 40ms 20ms"
    done = subprocess.run(netns.exec_argv([*focalcall, "apply", "--iface", netns.ns_link, spec]),
                          capture_output=True, text=True, timeout=60)
    probe = subprocess.run(netns.exec_argv(["tc", "qdisc", "show", "dev", netns.ns_link]),
                           capture_output=True, text=True)
    if done.returncode == 0:  # a kernel with netem: it is applied, and clear removes it
        assert "netem" in probe.stdout
    else:
        assert done.returncode == 2 and done.stderr.startswith("focalcall netem: error: this kernel has no netem")
        assert "focalcall netem fallback --netns NS" in done.stderr and len(done.stderr.splitlines()) == 1
        assert f'"{spec}"' in done.stderr and "netem" not in probe.stdout
    cleared = subprocess.run(netns.exec_argv([*focalcall, "clear", "--iface", netns.ns_link]),
                             capture_output=True, text=True, timeout=60)
    assert cleared.returncode == 0, cleared.stderr


def test_impairment_in_a_missing_namespace_is_a_clear_error():
    with pytest.raises(NetnsError, match="fc-no-such-ns"):
        NamespaceImpairment("fc-no-such-ns", parse_netem("loss 5%")).start()
