"""A real call through the server with real kernel packet loss: the listener sits in a network
namespace whose INPUT drops 20 % of UDP (iptables statistic); redundancy must recover it."""
import asyncio
import os
import signal
import subprocess
import sys

import pytest
from aiohttp import web
from pystoi import stoi

from client.call import Call
from client.sources import WavSource
from codec.registry import get_codec
from codec.roundtrip import roundtrip
from codec.wavio import read_wav
from rtc.ice import IceSettings
from impair.netns import VethNamespace, add_loss_rule, unavailable_reason
from server.app import CallServer
from server.config import ServerConfig

pytestmark = [pytest.mark.network]
REASON = unavailable_reason()
if REASON is not None:
    pytest.skip(f"network namespaces not permitted here: {REASON}", allow_module_level=True)

SUBNET = 16 + os.getpid() % 200
HOST_IP, NS_IP = f"10.232.{SUBNET}.1", f"10.232.{SUBNET}.2"
CODEC = "codec2-700c"


async def test_redundancy_recovers_kernel_packet_loss_end_to_end(speech_wav, tmp_path):
    with VethNamespace(f"fclive{os.getpid() % 100000}", HOST_IP, NS_IP) as ns:
        ice = IceSettings(host_addresses=(HOST_IP,))
        server = CallServer(ServerConfig(host=HOST_IP, port=0, ice=ice, open_rooms=True))
        runner = web.AppRunner(server.make_app())
        await runner.setup()
        site = web.TCPSite(runner, HOST_IP, 0)
        await site.start()
        url = f"http://{HOST_IP}:{site._server.sockets[0].getsockname()[1]}/"
        listener = await asyncio.create_subprocess_exec(
            *ns.exec_argv([sys.executable, "-m", "focalcall", "join", "lossy", "--server", url, "--name", "Bo",
                           "--ice-host", NS_IP, "--codec", CODEC, "--output-dir", str(tmp_path)]),
            stderr=asyncio.subprocess.PIPE)
        talker = None
        try:
            joined = await asyncio.wait_for(listener.stderr.readline(), 60)
            assert b"joined room" in joined, joined
            add_loss_rule(ns.name, "INPUT", 0.2)
            talker = Call(url, "lossy", "Ada", get_codec(CODEC), ice)
            await talker.start()
            await talker.send(WavSource(speech_wav, get_codec(CODEC)))
            await asyncio.sleep(1.0)
            listener.send_signal(signal.SIGINT)
            _, err = await asyncio.wait_for(listener.communicate(), 60)
        finally:
            if talker is not None:
                await talker.stop()
            if listener.returncode is None:
                listener.kill()
                await listener.wait()
            await runner.cleanup()
    summary = err.decode()
    assert listener.returncode == 0, summary
    line = next(l for l in summary.splitlines() if "received  Ada" in l)
    lost = int(line.split(" packets, ")[1].split(" lost")[0])
    recovered = int(line.split(" lost, ")[1].split(" frames recovered")[0])
    assert lost >= 5 and recovered >= 5, line  # the loss was real, and redundancy covered it
    heard = read_wav(tmp_path / "002-Ada.wav", 16000)
    offline = roundtrip(get_codec(CODEC), read_wav(speech_wav, 16000), 16000)
    n = min(len(heard), len(offline))
    # The final packet is sent four times in all, so even the last frames survive the loss.
    assert talker.stats.sent.repeats == 3
    assert abs(len(heard) - len(offline)) <= 640
    assert stoi(offline[:n], heard[:n], 16000) >= 0.85, line
    assert subprocess.run(["ip", "netns", "pids", ns.name], capture_output=True).returncode != 0
