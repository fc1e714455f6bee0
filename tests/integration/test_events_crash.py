"""SIGKILL a real ``lamina serve`` again and again while it delivers Event invokes.

A sender invokes a function with ``InvocationType: Event`` N times through boto3; every
202 is an accepted event. The function runs in Lamina's sandbox and records each
delivery with the boto3 that Lamina provides, through ``AWS_ENDPOINT_URL`` and the
credentials in its environment: it sends ``{"id", "attempt", "requestId"}`` to an
embedded SQS queue (durable, on the same data directory). Meanwhile the server is killed
with SIGKILL at random moments and restarted on the same data directory (on a new port:
the sender follows it). At the end every accepted event must have been delivered at
least once; duplicates (at-least-once) are counted and printed.

A request whose answer was lost to a kill is sent again as a new attempt; its earlier
attempt may still have been committed and delivered. Such deliveries are reported
separately ("unacknowledged"), not as duplicates: the duplicates are deliveries of one
accepted request id beyond the first.
"""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import (
    ROLE,
    client,
    kill,
    receive_all,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

N_EVENTS = 300
# Seconds from each (re)start to the next SIGKILL, plus up to 0.3 s of jitter: the first
# lands while events are still being accepted, the others during restarts' cold starts
# and during warm delivery.
KILL_AFTER_S = (0.5, 1.5, 3.0, 1.0, 2.5, 2.0)
KILLS = len(KILL_AFTER_S)
WORKERS = 4  # deliveries at once: slow enough that every kill lands mid-delivery

RECORDER = """\
import json
import time

import boto3

sqs = boto3.client("sqs")  # AWS_ENDPOINT_URL and the credentials come from Lamina
url = None


def handler(event, context):
    global url
    if url is None:
        url = sqs.get_queue_url(QueueName="deliveries")["QueueUrl"]
    time.sleep(0.05)  # some work, so kills land while deliveries are in flight
    record = {"id": event["id"], "attempt": event["attempt"], "requestId": context.aws_request_id}
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))
    return record
"""


class Sender(threading.Thread):
    """Sends every event until a 202 accepts it, following the server across restarts."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(name="event-sender", daemon=True)
        self.ids = ids
        self.endpoint = ""
        self.lock = threading.Lock()
        self.accepted: dict[str, tuple[str, int]] = {}  # request id -> (event id, attempt)
        self.attempts: Counter[str] = Counter()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def point_at(self, endpoint: str) -> None:
        with self.lock:
            self.endpoint = endpoint

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def _run(self) -> None:
        lam: Any = None
        used = ""
        for event_id in self.ids:
            while not self.stop.is_set():
                with self.lock:
                    endpoint = self.endpoint
                if lam is None or endpoint != used:
                    lam = client(endpoint, "lambda", connect_timeout=2, read_timeout=10)
                    used = endpoint
                self.attempts[event_id] += 1
                attempt = self.attempts[event_id]
                payload = json.dumps({"id": event_id, "attempt": attempt}).encode()
                try:
                    out = lam.invoke(
                        FunctionName="recorder", InvocationType="Event", Payload=payload
                    )
                except Exception:
                    time.sleep(0.05)  # killed before or while answering: try again
                    continue
                assert out["StatusCode"] == 202, out
                rid = out["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
                self.accepted[rid] = (event_id, attempt)
                break


def pending_events(data: Path) -> int:
    """Events still in the durable queue (read while the server is dead)."""
    with sqlite3.connect(data / "async-invokes.db") as db:
        return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def in_flight_events(data: Path) -> int:
    """Events a worker had leased for delivery and not finished (read while the server is
    dead): a lease is taken when a delivery starts and released when it ends, so these
    were being delivered when the kill landed."""
    with sqlite3.connect(data / "async-invokes.db") as db:
        query = "SELECT COUNT(*) FROM events WHERE lease_owner IS NOT NULL"
        return int(db.execute(query).fetchone()[0])


def test_sigkill_while_delivering_event_invokes_loses_no_accepted_event(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {
        "LAMINA_ASYNC_WORKERS": str(WORKERS),
        "LAMINA_ASYNC_RETRY_DELAY_1_S": "0.5",
        "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.5",
    }
    server = start_server(data, env)
    servers: list[LaminaProcess] = [server]
    sqs = client(server.endpoint, "sqs")
    sqs.create_queue(QueueName="deliveries")
    client(server.endpoint, "lambda").create_function(
        FunctionName="recorder",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(RECORDER)},
        Timeout=30,
        MemorySize=1024,  # CPU share ~0.6 vCPU (at 128 MB, botocore's first call is slow)
    )
    sender = Sender([f"ev-{i:04d}" for i in range(N_EVENTS)])
    sender.point_at(server.endpoint)
    sender.start()
    rng = random.Random(4)
    pending_at_kill: list[int] = []
    in_flight_at_kill: list[int] = []
    try:
        for after in KILL_AFTER_S:
            time.sleep(after + rng.uniform(0.0, 0.3))
            kill(server)
            pending_at_kill.append(pending_events(data))
            in_flight_at_kill.append(in_flight_events(data))
            server = start_server(data, env)
            servers.append(server)
            sender.point_at(server.endpoint)
        sender.join(timeout=120)
        assert not sender.is_alive(), "the sender could not get every event accepted"
        assert sender.error is None, sender.error
        sqs = client(server.endpoint, "sqs")
        url = sqs.get_queue_url(QueueName="deliveries")["QueueUrl"]
        records: list[dict[str, Any]] = []

        def drained() -> bool:
            records.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))
            seen = {r["requestId"] for r in records}
            return all(rid in seen for rid in sender.accepted) and pending_events(data) == 0

        wait_until(drained, 120, "every accepted event to be delivered")
        records.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))  # stragglers
    finally:
        sender.stop.set()
        for s in servers:
            s.stop()  # the last one cleanly (its environments with it); the rest are dead

    by_request = Counter(r["requestId"] for r in records)
    lost = [rid for rid in sender.accepted if not by_request[rid]]
    duplicates = sum(n - 1 for rid, n in by_request.items() if rid in sender.accepted and n > 1)
    unacknowledged = [rid for rid in by_request if rid not in sender.accepted]
    resent = sum(n - 1 for n in sender.attempts.values())
    mid_delivery = sum(1 for n in in_flight_at_kill if n > 0)
    print(
        f"\ncrash test (real lamina serve): {len(sender.accepted)} accepted, {KILLS} SIGKILLs "
        f"({mid_delivery} mid-delivery: in flight {in_flight_at_kill}, pending "
        f"{pending_at_kill}), {len(records)} deliveries, "
        f"{len(by_request)} distinct requests delivered, {duplicates} duplicate deliveries, "
        f"{len(unacknowledged)} delivered without a 202 (of {resent} resends), "
        f"{len(lost)} lost"
    )
    assert sorted(event_id for event_id, _ in sender.accepted.values()) == sender.ids
    assert lost == []
    # every delivery belongs to an event someone sent: nothing is invented
    sent = {(e, a) for e, n in sender.attempts.items() for a in range(1, n + 1)}
    assert {(r["id"], r["attempt"]) for r in records} <= sent
    # The test proved something: at least one kill landed while deliveries were in flight.
    assert mid_delivery >= 1, (in_flight_at_kill, pending_at_kill)
