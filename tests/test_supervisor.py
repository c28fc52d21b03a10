"""server/supervisor.py with stand-in worker processes: restarts, a worker that cannot start."""
from __future__ import annotations

import asyncio
import sys

import pytest

from server.config import ServerConfig
from server.supervisor import Supervisor

READY = "print('focalcall worker listening on http://127.0.0.1:1/', flush=True)"


async def test_a_worker_that_exits_is_started_again_and_stop_is_clean():
    # each "worker" announces itself, then exits after 0.3 s
    argv = [sys.executable, "-c", READY + "; import time; time.sleep(0.3)"]
    supervisor = Supervisor(ServerConfig(port=0), argv, 2)
    await supervisor.start()
    assert supervisor.directory.live == {0, 1}
    for _ in range(200):
        if all(w.restarts >= 1 for w in supervisor.workers):
            break
        await asyncio.sleep(0.05)
    assert all(w.restarts >= 1 for w in supervisor.workers)
    assert supervisor.front.metrics.registry.get_sample_value("focalcall_worker_restarts_total") >= 2
    await supervisor.stop(0)
    assert all(w.process.returncode is not None for w in supervisor.workers)


async def test_a_worker_that_cannot_start_fails_the_start():
    supervisor = Supervisor(ServerConfig(port=0), [sys.executable, "-c", "print('no', flush=True)"], 1)
    with pytest.raises(RuntimeError, match="did not start"):
        await supervisor.start()
    await supervisor.stop(0)
