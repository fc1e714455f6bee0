"""Lamina on a 3-node Ray cluster on 127.0.0.1 (``ray.cluster_utils.Cluster``).

One cluster and one control plane (``lamina serve --cluster``) for the module; the tests
run in order and the last ones kill and add nodes. Health checks are tuned (500 ms,
3 failures) as docs/cluster.md recommends.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lamina.client.http import Client
from lamina.cluster.agent import agent_name
from lamina.services.iam.credentials import load_secret
from tests.integration.harness import LaminaProcess, aws_client, python_zip
from tests.integration.test_streaming import _node_function, _pieces, _shell_function, _stream

ray_cluster_utils = pytest.importorskip(
    "ray.cluster_utils", reason="Ray is not installed (pip install 'lamina[cluster]')"
)

from lamina.cluster.fleet import cluster_token  # noqa: E402 - imports Ray

pytestmark = [pytest.mark.privileged, pytest.mark.slow, pytest.mark.cluster]

NODE_ARGS: dict[str, Any] = {
    "node_ip_address": "127.0.0.1",
    "num_cpus": 1,
    "include_dashboard": False,
    "resources": {"lamina_memory_mb": 2048},
}
NODE_DIRS: list[Path] = []
SOURCE = """
import os, time, uuid
INSTANCE = str(uuid.uuid4())  # one per environment (pids repeat: each has its own namespace)
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if "tag" in event:
        print("DELIVERED", event["tag"])
    return {"env": INSTANCE}
"""


def wait_for(check: Any, timeout: float = 60.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    c = ray_cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={
            **NODE_ARGS,
            "_system_config": {"health_check_period_ms": 500, "health_check_failure_threshold": 3},
        },
    )
    for _ in range(2):
        c.add_node(**NODE_ARGS)
    yield c
    c.shutdown()
    for path in NODE_DIRS:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def control(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("control")
    server = LaminaProcess(
        data, {"LAMINA_CLUSTER": cluster.address, "LAMINA_FREEZE_GRACE_S": "0.05"}
    ).start()
    seen: set[str] = set()
    try:
        wait_for(lambda: len(alive(server)) == 3, what="three attached nodes")
        yield server
        seen = {n["node_id"] for n in status(server)["nodes"]}
    finally:
        server.stop()
        # The nodes' working directories (code, unpacked trees, sandboxes' scratch),
        # removed once the cluster is down (its workers write there until they exit).
        token = cluster_token(load_secret(data))
        NODE_DIRS.extend(Path(tempfile.gettempdir()) / agent_name(n, token) for n in seen)


def status(server: LaminaProcess) -> dict[str, Any]:
    body: dict[str, Any] = Client(server.endpoint).call("GET", "/lamina/v1/cluster")
    return body


def alive(server: LaminaProcess) -> list[dict[str, Any]]:
    return [n for n in status(server)["nodes"] if n["alive"]]


def invoke(server: LaminaProcess, name: str, event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    out = server.lambda_client().invoke(FunctionName=name, Payload=json.dumps(event).encode())
    node = out["ResponseMetadata"]["HTTPHeaders"].get("x-lamina-node", "")
    return node, json.loads(out["Payload"].read())


def ray_view(cluster: Any) -> dict[str, Any]:
    """Each node's state as Ray's autoscaler reads it (the GCS's cluster resource state:
    ``status``, ``idle_duration_ms``, ``node_activity``, resources), by node id."""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]
    from ray.autoscaler.v2.sdk import get_cluster_resource_state

    state = get_cluster_resource_state(GcsClient(address=cluster.address))
    return {n.node_id.hex(): n for n in state.node_states}


def idle_termination(cluster: Any, node_id: str) -> tuple[bool, str]:
    """Ask Ray to drain ``node_id`` for idle termination, as autoscaler v2 does; returns
    whether the raylet accepted, and why not."""
    from ray._raylet import GcsClient  # type: ignore[attr-defined]
    from ray.core.generated.autoscaler_pb2 import DrainNodeReason  # type: ignore[attr-defined]

    accepted, why = GcsClient(address=cluster.address).drain_node(
        node_id=node_id,
        reason=DrainNodeReason.Value("DRAIN_NODE_REASON_IDLE_TERMINATION"),
        reason_message="Termination of node that's idle (a test)",
        deadline_timestamp_ms=0,
    )
    return bool(accepted), str(why)


def idle_to_ray(node: Any) -> bool:
    """What Ray's idle termination reads: the node IDLE, its idle time running."""
    from ray.core.generated.autoscaler_pb2 import NodeStatus  # type: ignore[attr-defined]

    return bool(node.status == NodeStatus.IDLE and node.idle_duration_ms > 0)


def test_ray_sees_a_node_busy_while_it_has_environments_and_idle_again_after(
    control: LaminaProcess, cluster: Any
) -> None:
    """Runs first, while no node has environments. The agent holds nothing once its
    worker runs, so Ray sees every node idle; a node with environments holds a lease of
    Lamina's memory there (busy to Ray, so never picked for idle termination), and is
    idle again once they are gone. The other nodes stay idle throughout."""
    wait_for(lambda: all(map(idle_to_ray, ray_view(cluster).values())), 60, "every node idle")
    control.create("leased", python_zip(SOURCE), Timeout=30, MemorySize=300)
    node, _ = invoke(control, "leased", {})

    def leased() -> Any:
        view = ray_view(cluster)
        others_idle = all(idle_to_ray(n) for k, n in view.items() if k != node)
        return others_idle and not idle_to_ray(view[node]) and view[node]

    held = wait_for(leased, 30, "the node with an environment busy to Ray")
    # 300 MB in use, leased as 512 MB of the node's 2,048 (a 256 MB bucket).
    assert dict(held.available_resources)["lamina_memory_mb"] == 2048 - 512
    assert any("lamina_memory_mb" in activity for activity in held.node_activity)
    # What autoscaler v2 does to a node it found idle for too long (its RayStopper): the
    # raylet refuses, because the node is not idle.
    assert idle_termination(cluster, node) == (
        False,
        "The node to be idle terminated is no longer idle.",
    )
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(invoke, control, "leased", {"sleep": 2})
        time.sleep(0.5)
        assert not idle_to_ray(ray_view(cluster)[node])
        assert running.result()[0] == node  # warm: the same node
    # A new configuration retires the function's idle environments: the lease goes.
    control.lambda_client().update_function_configuration(FunctionName="leased", Timeout=31)
    wait_for(lambda: idle_to_ray(ray_view(cluster)[node]), 60, "the node idle to Ray again")
    assert dict(ray_view(cluster)[node].available_resources)["lamina_memory_mb"] == 2048


def test_functions_spread_over_the_nodes(control: LaminaProcess) -> None:
    nodes = set()
    # Homes are a hash of the name: 40 functions miss a node with probability ~1e-7.
    for i in range(40):
        control.create(f"spread{i}", python_zip(SOURCE), Timeout=30)
        node, _ = invoke(control, f"spread{i}", {})
        nodes.add(node)
        if len(nodes) == 3 and i >= 11:
            break
    assert nodes <= {n["node_id"] for n in alive(control)}
    assert len(nodes) == 3
    out = subprocess.run(
        [sys.executable, "-m", "lamina.cli.main", "cluster", "status", "--endpoint", control.endpoint],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    rows = [line for line in out.stdout.splitlines() if " alive " in line]
    assert len(rows) == 3, out.stdout
    with urllib.request.urlopen(f"{control.endpoint}/metrics", timeout=30) as answer:
        metrics = answer.read().decode()
    up = [line for line in metrics.splitlines() if line.startswith("lamina_cluster_node_up{")]
    assert len(up) == 3 and all(line.endswith(" 1") for line in up), up
    assert all(f"/{NODE_ARGS['resources']['lamina_memory_mb']}" in row for row in rows)


def test_warm_reuse_stays_on_the_node_and_logs_reach_the_control_plane(
    control: LaminaProcess,
) -> None:
    control.create("warm", python_zip(SOURCE), Timeout=30)
    runs = [control.invoke("warm", {}) for _ in range(4)]
    assert all(r.status == 200 and r.function_error is None for r in runs)
    envs = {r.json()["env"] for r in runs}
    assert len(envs) == 1
    assert [r.report()["init"] is not None for r in runs] == [True, False, False, False]
    idle = {k for n in status(control)["nodes"] for k, v in n["idle"].items() if v}
    assert any(k.startswith("warm:$LATEST:") for k in idle)

    def reports() -> int:  # a node's lines follow its answers within 0.1 s
        events = Client(control.endpoint).call("GET", "/lamina/v1/functions/warm/logs")
        return json.dumps(events).count("REPORT RequestId")

    assert wait_for(lambda: reports() >= 4, 10, "the REPORT lines")

    # Each says which node ran it: the answer's header, the log stream, the ledger row.
    node, _ = invoke(control, "warm", {})
    body = Client(control.endpoint).call("GET", "/lamina/v1/functions/warm/logs")
    streams = {e["logStreamName"] for e in body["events"]}
    assert len(streams) == 1 and f"]{node}." in streams.pop(), streams

    def billed_nodes() -> list[tuple[str, int]]:
        q = "/lamina/v1/ledger?by=node&function=warm"
        groups = Client(control.endpoint).call("GET", q)["groups"]
        return [(g["node"], g["invocations"]) for g in groups]

    assert wait_for(lambda: billed_nodes() == [(node, 5)], 10, "the node's ledger rows")


def billed_nodes(server: LaminaProcess, function: str) -> list[tuple[str, int]]:
    """The ledger's rows for ``function`` grouped by the node that ran them."""
    q = f"/lamina/v1/ledger?by=node&function={function}"
    groups = Client(server.endpoint).call("GET", q)["groups"]
    return [(g["node"], g["invocations"]) for g in groups]


def test_streamed_invokes_run_on_a_node_and_stream_as_written(control: LaminaProcess) -> None:
    _shell_function(control, "cl-stream")
    chunks, complete, out = _stream(control, "cl-stream", {}, LogType="Tail")
    assert out["StatusCode"] == 200
    pieces = [(arrived, p) for arrived, data in chunks for p in _pieces(data)]
    assert [p[0] for _, p in pieces] == ["1", "2", "3"]
    for (arrived, _), (_, (_, written_next)) in pairwise(pieces):
        assert arrived < written_next, "a piece arrived only after the next was written"
    assert "ErrorCode" not in complete
    assert "REPORT RequestId" in base64.b64decode(complete["LogResult"]).decode()
    # The error trailer ends the stream as on one machine, from the same environment.
    chunks, complete, _ = _stream(control, "cl-stream", {"fail": True})
    assert [p[0] for _, data in chunks for p in _pieces(data)] == ["1", "2", "3"]
    assert (complete["ErrorCode"], complete["ErrorDetails"]) == (
        "StreamError",
        "went wrong mid-stream",
    )
    # Both ran on one node (the ledger names it), not on the control plane.
    nodes = {n["node_id"] for n in alive(control)}
    rows = wait_for(
        lambda: [r for r in billed_nodes(control, "cl-stream") if r[1] == 2], 10, "both rows"
    )
    assert len(rows) == 1 and rows[0][0] in nodes, rows


def test_a_response_stream_url_on_the_cluster_keeps_its_prelude(control: LaminaProcess) -> None:
    _node_function(control, "cl-stream-url")
    url = control.lambda_client().create_function_url_config(
        FunctionName="cl-stream-url", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )["FunctionUrl"]
    out = subprocess.run(
        ["curl", "-sN", "-i", "-X", "POST", "--data", '{"http": true}', url],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    head, _, body = out.partition(b"\r\n\r\n")
    lines = head.decode().lower().split("\r\n")
    assert lines[0] == "http/1.1 201 created"
    assert "set-cookie: a=1" in lines and "set-cookie: b=2" in lines
    assert [n for n, _ in _pieces(body)] == ["1", "2", "3"]
    rows = wait_for(lambda: billed_nodes(control, "cl-stream-url"), 10, "the ledger rows")
    assert rows[0][0] in {n["node_id"] for n in alive(control)}


def test_a_stream_counts_against_cluster_wide_reserved_concurrency(
    control: LaminaProcess,
) -> None:
    _shell_function(control, "cl-stream-one", timeout=4)
    client = control.lambda_client()
    client.put_function_concurrency(FunctionName="cl-stream-one", ReservedConcurrentExecutions=1)
    out = client.invoke_with_response_stream(
        FunctionName="cl-stream-one", Payload=b'{"sleep": true}'
    )
    events = iter(out["EventStream"])
    first = next(events)  # the function streams one piece, then hangs until its timeout
    assert "PayloadChunk" in first
    # While it streams on its node, the function's one slot is taken cluster-wide.
    with pytest.raises(ClientError) as refused:
        client.invoke(FunctionName="cl-stream-one", Payload=b"{}")
    error = refused.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert error.get("Reason") == "ReservedFunctionConcurrentInvocationLimitExceeded", error
    rest = list(events)
    assert rest[-1]["InvokeComplete"]["ErrorCode"] == "Sandbox.Timedout"


def in_flight(server: LaminaProcess, function: str) -> int | None:
    """``faas_concurrent_executions`` of ``function`` on /metrics (None: not listed)."""
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=30) as answer:
        metrics = answer.read().decode()
    prefix = f'faas_concurrent_executions{{faas_name="{function}"}} '
    for line in metrics.splitlines():
        if line.startswith(prefix):
            return int(float(line[len(prefix) :]))
    return None


def test_metrics_count_the_invokes_in_flight_on_the_nodes(control: LaminaProcess) -> None:
    control.create("cl-busy", python_zip(SOURCE), Timeout=30)
    clients = [control.lambda_client() for _ in range(2)]  # made here: not thread-safe

    def busy(client: Any) -> str:
        out = client.invoke(FunctionName="cl-busy", Payload=b'{"sleep": 5}')
        assert "FunctionError" not in out, out["Payload"].read()
        return str(out["ResponseMetadata"]["HTTPHeaders"].get("x-lamina-node", ""))

    seen: list[int | None] = []

    def both() -> bool:
        seen.append(in_flight(control, "cl-busy"))
        return seen[-1] == 2

    with ThreadPoolExecutor(2) as pool:
        running = [pool.submit(busy, client) for client in clients]
        # Both run on nodes, none in the control plane's own pool: the gauge says 2.
        try:
            wait_for(both, 30, "two in flight")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the gauge read {seen[-10:]}") from None
        ran_on = {f.result() for f in running}
    assert ran_on <= {n["node_id"] for n in alive(control)}
    # Listed at 0 once the ledger holds its records (they follow the answers in batches).
    assert wait_for(lambda: in_flight(control, "cl-busy") == 0, 10, "none in flight")


def test_the_live_tail_shows_the_lines_a_node_wrote(control: LaminaProcess) -> None:
    """`lamina logs --follow` and the console's tail read the control plane's telemetry
    bus: a node's lines reach it with the batched state frames."""
    control.create("cl-tail", python_zip(SOURCE), Timeout=30)
    api = Client(control.endpoint)
    path = "/lamina/v1/functions/cl-tail/telemetry"
    start = api.call("GET", f"{path}?limit=0")["last"]  # watching from now
    node, _ = invoke(control, "cl-tail", {"tag": "followed"})
    assert node in {n["node_id"] for n in alive(control)}

    def lines() -> list[str]:
        return [e["text"] for e in api.call("GET", f"{path}?after={start}")["events"]]

    assert wait_for(lambda: any("REPORT RequestId" in t for t in lines()), 10, "the REPORT")
    assert any("DELIVERED followed" in t for t in lines())


def test_the_live_tail_follows_a_function_with_its_own_log_group(control: LaminaProcess) -> None:
    """A node writes such a function's lines under its group's folder; the tail follows
    the function by name, as on one machine."""
    control.create(
        "cl-tail-group",
        python_zip(SOURCE),
        Timeout=30,
        LoggingConfig={"LogFormat": "Text", "LogGroup": "/custom/cl-tail"},
    )
    api = Client(control.endpoint)
    path = "/lamina/v1/functions/cl-tail-group/telemetry"
    start = api.call("GET", f"{path}?limit=0")["last"]
    node, _ = invoke(control, "cl-tail-group", {"tag": "grouped"})
    assert node in {n["node_id"] for n in alive(control)}

    def lines() -> list[str]:
        return [e["text"] for e in api.call("GET", f"{path}?after={start}")["events"]]

    assert wait_for(lambda: any("REPORT RequestId" in t for t in lines()), 10, "the REPORT")
    assert any("DELIVERED grouped" in t for t in lines())
    # Stored in the function's own group, as on one machine.
    client = aws_client(control, "logs")

    def stored() -> bool:
        events = client.filter_log_events(logGroupName="/custom/cl-tail")["events"]
        return any("DELIVERED grouped" in e["message"] for e in events)

    assert wait_for(stored, 10, "the line in /custom/cl-tail")


def node_counts_in_metrics(server: LaminaProcess) -> dict[str, int]:
    """``lamina_environments`` on /metrics, summed over states per node label."""
    with urllib.request.urlopen(f"{server.endpoint}/metrics", timeout=30) as answer:
        metrics = answer.read().decode()
    counts: dict[str, int] = {}
    for line in metrics.splitlines():
        if line.startswith("lamina_environments{"):
            labels, _, value = line.rpartition(" ")
            assert 'node="' in labels, line  # on a cluster every sample names its node
            node = labels.split('node="')[1].split('"')[0]
            counts[node] = counts.get(node, 0) + int(float(value))
    return counts


def test_the_views_of_environments_read_the_nodes(control: LaminaProcess) -> None:
    """`/lamina/v1/environments`, the health answer and the `lamina_environments` gauge
    list the environments on the nodes, each named with its node (the control plane's
    own pool is empty on a cluster)."""
    nodes = {n["node_id"] for n in alive(control)}
    api = Client(control.endpoint)

    def views() -> tuple[dict[str, int], dict[str, int], dict[str, int]] | None:
        listed = api.call("GET", "/lamina/v1/environments")
        health = api.call("GET", "/lamina/v1/health")
        per_node = {n: 0 for n in nodes}
        for e in listed["Environments"]:
            per_node[e["Node"]] += 1
        told = {n["Node"]: n["Environments"] for n in listed["Nodes"] if n["Answered"]}
        healthy = {n["node"]: n["environments"] for n in health["nodes"] if n["answered"]}
        gauge = node_counts_in_metrics(control)
        if not (per_node == told == healthy == gauge):  # an environment came or went
            return None
        assert health["environments"] == len(listed["Environments"])
        assert all(
            e["State"] in ("starting", "busy", "idle", "frozen") for e in listed["Environments"]
        )
        return per_node, healthy, gauge

    per_node, _, _ = wait_for(views, 30, "the views to agree")
    # The functions spread over the nodes earlier still have warm environments there.
    assert sum(1 for count in per_node.values() if count) >= 2, per_node
    listed = api.call("GET", "/lamina/v1/environments")["Environments"]
    assert any(e["Function"].startswith("spread") for e in listed)


CALLER = """
import os, boto3
from botocore.config import Config
def handler(event, context):
    config = Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1})
    names = [f["FunctionName"] for f in boto3.client("lambda", config=config).list_functions()["Functions"]]
    return {"names": names, "endpoint": os.environ["AWS_ENDPOINT_URL"]}
"""


def test_functions_on_every_node_reach_the_api(control: LaminaProcess) -> None:
    """A function's namespace reaches neither the host's loopback nor its addresses: each
    node's worker relays the API inside it, as one machine serves it there."""
    answered: dict[str, dict[str, Any]] = {}
    for i in range(40):
        control.create(f"caller{i}", python_zip(CALLER), Timeout=30)
        node, body = invoke(control, f"caller{i}", {})
        answered[node] = body
        if len(answered) == 3 and i >= 5:
            break
    assert len(answered) == 3, answered.keys()
    for body in answered.values():
        assert "caller0" in body["names"], body  # the control plane's functions
        assert body["endpoint"].startswith("http://127.0.0.1:"), body


def test_a_restarted_control_plane_reattaches_the_running_workers(
    control: LaminaProcess,
) -> None:
    control.create("keep", python_zip(SOURCE), Timeout=30)
    node, before = invoke(control, "keep", {})
    workers = {n["node_id"]: n["address"] for n in alive(control)}
    control.stop()
    control.start()
    wait_for(lambda: len(alive(control)) == 3, what="the nodes re-attached")
    assert {n["node_id"]: n["address"] for n in alive(control)} == workers
    again, after = invoke(control, "keep", {})
    # The same worker, the same warm environment: nothing was restarted.
    assert (again, after["env"]) == (node, before["env"])


def worker_pid(node_id: str) -> int:
    """The pid of the worker this module's cluster started for ``node_id``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"lamina.cluster.worker" in argv and node_id.encode() in argv:
            return int(entry.name)
    raise AssertionError(f"no worker for {node_id}")


def test_a_worker_that_dies_is_started_again_on_its_node(control: LaminaProcess) -> None:
    node = alive(control)[-1]
    os.kill(worker_pid(node["node_id"]), signal.SIGKILL)
    wait_for(
        lambda: any(
            n["node_id"] == node["node_id"] and n["alive"] and n["address"] != node["address"]
            for n in status(control)["nodes"]
        ),
        60,
        "a new worker on the node",
    )
    assert len(alive(control)) == 3


def test_a_node_killed_under_load(control: LaminaProcess, cluster: Any) -> None:
    """Sync invokes in flight on the node fail with ServiceException, new ones go
    elsewhere, async events in flight are retried (none lost), the node's
    replacement takes work."""
    head_id = cluster.head_node.node_id
    # Two functions homed on one worker node (not the head: it holds GCS): one for the
    # async events, one for the sync invokes, so each is seen running there before the kill.
    homed: dict[str, list[str]] = {}
    # The functions spread earlier are reused (warm already) when that test ran first.
    existing = {
        f["FunctionName"]
        for page in control.lambda_client().get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    for i in range(60):
        name = f"spread{i}" if i < 12 else f"victim{i}"
        if name not in existing:
            control.create(name, python_zip(SOURCE), Timeout=30)
        node, _ = invoke(control, name, {})
        if node != head_id:
            homed.setdefault(node, []).append(name)
            if len(homed[node]) == 2:
                break
    victim_id, (victim_fn, sync_fn) = next((n, f) for n, f in homed.items() if len(f) == 2)
    victim = next(n for n in cluster.worker_nodes if n.node_id == victim_id)

    tags = [str(uuid.uuid4()) for _ in range(10)]
    client = control.lambda_client()
    for tag in tags[:5]:
        client.invoke(
            FunctionName=victim_fn,
            InvocationType="Event",
            Payload=json.dumps({"tag": tag, "sleep": 3}).encode(),
        )

    def sync_call(_: int) -> str:
        try:
            invoke(control, sync_fn, {"sleep": 3})
            return "ok"
        except ClientError as exc:
            return f"{exc.response['ResponseMetadata']['HTTPStatusCode']} {exc.response['Error']['Code']}"

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(sync_call, i) for i in range(3)]

        def both_running() -> bool:  # the views name the node of each busy environment
            envs = Client(control.endpoint).call("GET", "/lamina/v1/environments")
            busy_there = {
                e["Function"]
                for e in envs["Environments"]
                if (e["Node"], e["State"]) == (victim_id, "busy")
            }
            return {victim_fn, sync_fn} <= busy_there

        wait_for(both_running, 30, "an async event and a sync invoke running on the node")
        killed_at = time.monotonic()
        cluster.remove_node(victim, allow_graceful=False)
        outcomes = [f.result() for f in futures]
    failed = [o for o in outcomes if o != "ok"]
    assert failed and all(o == "500 ServiceException" for o in failed), outcomes

    # New invokes go to the other nodes at once.
    node, _ = invoke(control, victim_fn, {})
    answered_after = time.monotonic() - killed_at
    assert node and node != victim_id
    for tag in tags[5:]:
        client.invoke(
            FunctionName=victim_fn,
            InvocationType="Event",
            Payload=json.dumps({"tag": tag}).encode(),
        )

    def delivered() -> list[str]:
        events = Client(control.endpoint).call("GET", f"/lamina/v1/functions/{victim_fn}/logs")
        return [t for t in json.dumps(events).split("DELIVERED ")[1:]]

    wait_for(
        lambda: all(any(d.startswith(t) for d in delivered()) for t in tags), 120, "async events"
    )
    seen = [t for t in tags for d in delivered() if d.startswith(t)]
    duplicates = len(seen) - len(tags)
    print(
        f"node loss: answered elsewhere after {answered_after:.2f} s; sync {outcomes}; "
        f"async accepted {len(tags)} delivered {len(tags)} duplicates {duplicates}"
    )
    assert len(alive(control)) == 2

    # A node joining (the replacement) gets an agent and takes work.
    cluster.add_node(**NODE_ARGS)
    wait_for(lambda: len(alive(control)) == 3, what="the new node attached")
    before = {head_id, node} | {n["node_id"] for n in status(control)["nodes"] if not n["alive"]}
    new_id = next(n["node_id"] for n in alive(control) if n["node_id"] not in before)
    nodes = set()
    for i in range(40):  # until one is homed on the new node (each is, with p = 1/3)
        control.create(f"rejoin{i}", python_zip(SOURCE), Timeout=30)
        nodes.add(invoke(control, f"rejoin{i}", {})[0])
        if new_id in nodes:
            break
    assert new_id in nodes, (nodes, new_id)


def test_a_workflow_task_on_a_lost_node_is_retried_on_another(
    control: LaminaProcess, cluster: Any
) -> None:
    """A Standard execution's Task in flight on a node that dies ends with
    Lambda.ServiceException, as on AWS; the state machine's Retry runs it on another node
    and the execution succeeds (the execution itself lives on the control plane)."""
    head_id = cluster.head_node.node_id
    workers = {n.node_id for n in cluster.worker_nodes}
    name, node = "", ""
    for i in range(40):  # a function homed on a worker node (not the head: it holds GCS)
        control.create(f"wf{i}", python_zip(SOURCE), Timeout=30)
        node, _ = invoke(control, f"wf{i}", {})
        if node != head_id and node in workers:
            name = f"wf{i}"
            break
    assert name, "no function was homed on a worker node"
    victim = next(n for n in cluster.worker_nodes if n.node_id == node)
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": f"arn:aws:lambda:us-east-1:000000000000:function:{name}",
                "Retry": [
                    {
                        "ErrorEquals": ["Lambda.ServiceException"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 3,
                        "BackoffRate": 1.0,
                    }
                ],
                "End": True,
            }
        },
    }
    sfn = aws_client(control, "stepfunctions")
    machine = sfn.create_state_machine(
        name="cl-retry",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::000000000000:role/sfn",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, input='{"sleep": 4}')["executionArn"]

    def running_there() -> bool:  # the views name the node each environment runs on
        envs = Client(control.endpoint).call("GET", "/lamina/v1/environments")["Environments"]
        return any((e["Function"], e["Node"], e["State"]) == (name, node, "busy") for e in envs)

    wait_for(running_there, 30, "the task running on its home node")
    cluster.remove_node(victim, allow_graceful=False)

    def finished() -> dict[str, Any] | None:
        out: dict[str, Any] = sfn.describe_execution(executionArn=execution)
        return None if out["status"] == "RUNNING" else out

    assert wait_for(finished, 120, "the execution")["status"] == "SUCCEEDED"
    events = sfn.get_execution_history(executionArn=execution)["events"]
    errors = [
        detail.get("error")
        for e in events
        if e["type"] == "LambdaFunctionFailed"
        for key, detail in e.items()
        if key.endswith("EventDetails")
    ]
    assert errors == ["Lambda.ServiceException"], errors
    assert [e["type"] for e in events].count("LambdaFunctionSucceeded") == 1


PULL_ENV = {
    "LAMINA_CLUSTER_CODE_PULL": "1",
    # The dev-mode control plane accepts any key pair (docs/cluster.md).
    "LAMINA_CLUSTER_CODE_ACCESS_KEY_ID": "AKIDNODE",
    "LAMINA_CLUSTER_CODE_SECRET_ACCESS_KEY": "node-secret",
}


def test_a_node_started_to_pull_fetches_its_packages_itself(
    control: LaminaProcess, cluster: Any
) -> None:
    """`ray start` in an environment with LAMINA_CLUSTER_CODE_PULL=1: that node's worker
    pulls what it lacks from the control plane's code route; the others are pushed to."""
    before = {n["node_id"] for n in alive(control)}
    saved = {k: os.environ.get(k) for k in PULL_ENV}
    os.environ.update(PULL_ENV)  # the new raylet, its agent and its worker inherit it
    try:
        cluster.add_node(**NODE_ARGS)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    new = wait_for(
        lambda: [n for n in alive(control) if n["node_id"] not in before], what="the new node"
    )[0]
    others = [n for n in alive(control) if n["node_id"] != new["node_id"]]
    assert new["pulls"] and others and not any(n["pulls"] for n in others)
    # Homes are a hash of the name: 60 functions miss one node of four with p ~ 3e-8.
    for i in range(60):
        control.create(f"pull{i}", python_zip(SOURCE), Timeout=30)
        node, body = invoke(control, f"pull{i}", {})
        if node == new["node_id"]:
            assert "env" in body
            break
    else:
        raise AssertionError("no function was placed on the pulling node")


def test_a_node_ray_drains_leaves_gracefully_and_its_warm_function_moves(
    control: LaminaProcess, cluster: Any
) -> None:
    """`ray drain-node` (what Ray's autoscaler v2 does before it terminates a node): the
    control plane tells the node's worker to leave, so its warm environment is started
    again on another node, its worker exits, and the node is not attached again."""
    live = {n["node_id"] for n in alive(control)}
    workers = {n.node_id for n in cluster.worker_nodes} & live
    name, node = "", ""
    for i in range(40):  # a function warm on a worker node (not the head: it holds GCS)
        control.create(f"drain{i}", python_zip(SOURCE), Timeout=30)
        node, _ = invoke(control, f"drain{i}", {})
        if node in workers:
            name = f"drain{i}"
            break
    assert name, "no function was homed on a worker node"
    raylet = pytest.importorskip("ray._raylet")  # Ray's own client of its GCS, as `ray
    autoscaler_pb2 = pytest.importorskip("ray.core.generated.autoscaler_pb2")  # drain-node`

    preemption = autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION")
    deadline_ms = int(time.time() * 1000) + 60_000
    accepted, why = raylet.GcsClient(address=cluster.address).drain_node(
        node, preemption, "test", deadline_ms
    )
    assert accepted, why

    def gone() -> bool:
        return not any(n["node_id"] == node and n["alive"] for n in status(control)["nodes"])

    wait_for(gone, 30, "the drained node to leave")

    def warm_elsewhere() -> bool:
        return any(
            k.startswith(f"{name}:$LATEST:") and v
            for n in alive(control)
            for k, v in n["idle"].items()
        )

    wait_for(warm_elsewhere, 60, "the warm environment started again on another node")
    out = control.lambda_client().invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    ran_on = out["ResponseMetadata"]["HTTPHeaders"].get("x-lamina-node", "")
    tail = base64.b64decode(out["LogResult"]).decode()
    assert ran_on in live - {node}
    assert "REPORT RequestId" in tail and "Init Duration" not in tail  # warm at once

    def no_worker() -> bool:
        try:
            worker_pid(node)
        except AssertionError:
            return True
        return False

    wait_for(no_worker, 30, "the drained node's worker to exit")
    time.sleep(2.0)  # several watch ticks: the node stays in Ray, draining
    assert node not in {n["node_id"] for n in alive(control)}
