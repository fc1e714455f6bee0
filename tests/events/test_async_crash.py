"""SIGKILL the process that holds the async-invoke queue, again and again: nothing is lost.

A sender posts N events; every 202 is an accepted event. Meanwhile the server is killed
with SIGKILL at random moments (while accepting and while delivering) and restarted on
the same data directory. At the end every accepted event must have been delivered at
least once; duplicates are allowed (at-least-once) and counted in the report.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
N_EVENTS = 600
KILLS = 8

pytestmark = pytest.mark.slow


class Server:
    def __init__(self, data: Path, deliveries: Path) -> None:
        self.data = data
        self.deliveries = deliveries
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        port_file = self.data / "port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.events.async_crash_server",
                str(self.data),
                str(self.deliveries),
                str(port_file),
            ],
            cwd=ROOT,
        )
        deadline = time.monotonic() + 30
        while not port_file.exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("crash server did not start")
            time.sleep(0.01)
        self.port = int(port_file.read_text())

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


def send_all(server: Server, ids: list[str], accepted: list[str], stop: threading.Event) -> None:
    """Post each event until it is accepted (a killed server refuses or drops the request)."""
    for event_id in ids:
        body = json.dumps({"id": event_id}).encode()
        while not stop.is_set():
            try:
                conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
                conn.request("POST", "/events", body)
                status = conn.getresponse().status
                conn.close()
            except OSError:
                time.sleep(0.02)  # down or killed mid-request: the event may or may not be in
                continue
            if status == 202:
                accepted.append(event_id)
                break


def test_sigkill_while_accepting_and_delivering_loses_no_accepted_event(tmp_path: Path) -> None:
    deliveries = tmp_path / "deliveries.txt"
    server = Server(tmp_path, deliveries)
    server.start()
    ids = [f"ev-{i:05d}" for i in range(N_EVENTS)]
    accepted: list[str] = []
    stop = threading.Event()
    sender = threading.Thread(target=send_all, args=(server, ids, accepted, stop))
    sender.start()
    rng = random.Random(4)
    mid_delivery = 0  # kills that landed while accepted events were still undelivered
    try:
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.15, 0.6))
            server.kill()
            done = set(deliveries.read_text().split()) if deliveries.exists() else set()
            mid_delivery += bool(set(accepted) - done) and bool(done)
            server.start()
        sender.join(timeout=120)
        assert not sender.is_alive(), "the sender could not get all events accepted"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            delivered = Counter(deliveries.read_text().split())
            if all(delivered[e] for e in accepted):
                break
            time.sleep(0.1)
    finally:
        stop.set()
        server.kill()
    delivered = Counter(deliveries.read_text().split())
    lost = [e for e in accepted if not delivered[e]]
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    print(
        f"\ncrash test: {len(accepted)} accepted, {KILLS} SIGKILLs ({mid_delivery} while "
        "deliveries were pending), "
        f"{len(delivered)} distinct delivered, {duplicates} duplicate deliveries, "
        f"{len(lost)} lost"
    )
    assert len(accepted) == N_EVENTS
    assert lost == []
