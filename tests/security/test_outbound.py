"""Outbound traffic: allowed to the outside (a test host in a namespace this test makes),
never to the host itself nor to another environment; off when the server says so."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, python_zip
from tests.security.test_network import PROBE_PY

pytestmark = pytest.mark.privileged

TEST_HOST_SERVER = """
import socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
while True:
    c, _ = s.accept()
    c.sendall(b"outside-hello\\n")
    c.close()
"""

LISTEN_PY = """
import os, socket, threading, time

def _serve(sock):
    while True:
        conn, _ = sock.accept()
        conn.sendall(b"b-secret\\n")
        conn.close()

_sock = socket.socket()
_sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
_sock.bind(("0.0.0.0", 8080))
_sock.listen(8)
threading.Thread(target=_serve, args=(_sock,), daemon=True).start()

def handler(event, context):
    with open("/proc/net/fib_trie") as f:
        text = f.read()
    # The environment's own eth0 address: the /32 LOCAL entry outside 127/8.
    lines = text.splitlines()
    mine = [lines[i - 1].split()[-1] for i, l in enumerate(lines)
            if "/32 host LOCAL" in l and not lines[i - 1].split()[-1].startswith("127.")]
    return {"address": mine[0] if mine else None}
"""


@dataclass
class OutsideHost:
    namespace: str
    address: str
    port: int


@pytest.fixture(scope="module")
def test_host() -> Iterator[OutsideHost]:
    """A TCP server in a network namespace of its own, linked to the host by a veth."""
    pid = os.getpid()
    ns, link = f"lsec{pid}", f"lst{pid % 100000}"
    third = pid % 250
    host_ip, peer_ip = f"100.64.{third}.1", f"100.64.{third}.2"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    server = None
    try:
        batch = (
            f"link add {link} type veth peer name eth0 netns {ns}\n"
            f"addr add {host_ip}/30 dev {link}\n"
            f"link set {link} up\n"
        )
        subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
        inside = f"addr add {peer_ip}/30 dev eth0\nlink set eth0 up\nlink set lo up\n"
        subprocess.run(["ip", "-n", ns, "-batch", "-"], input=inside, text=True, check=True)
        server = subprocess.Popen(
            ["ip", "netns", "exec", ns, sys.executable, "-c", TEST_HOST_SERVER],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield OutsideHost(ns, peer_ip, port)
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False)


def test_outbound_reaches_a_host_outside(lamina: LaminaProcess, test_host: OutsideHost) -> None:
    lamina.create("sec-out-ok", python_zip(PROBE_PY))
    out = lamina.invoke("sec-out-ok", {"targets": [[test_host.address, test_host.port]]}).json()
    assert out["results"] == {str(test_host.port): "connected outside-hello\n"}
    assert out["interfaces"] == ["eth0", "lo"]


def test_the_host_itself_is_unreachable_through_the_gateway(lamina: LaminaProcess) -> None:
    import socket
    import threading

    lamina.create("sec-out-gw", python_zip(PROBE_PY))
    first = lamina.invoke("sec-out-gw", {}).json()
    gateway = first["gateway"]
    assert gateway and gateway.startswith("10.")
    # A service on the gateway's own address (the host's end of the environment's veth).
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((gateway, 0))
    sock.listen(4)
    port = sock.getsockname()[1]
    accepted: list[object] = []

    def serve() -> None:
        try:
            accepted.append(sock.accept())
        except OSError:
            return  # shut down below

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        out = lamina.invoke("sec-out-gw", {"targets": [[gateway, port]]}).json()
        assert out["results"][str(port)] in ("TimeoutError", "timeout")
        assert accepted == []
    finally:
        # Wake the accept() before closing, so no thread outlives its socket.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        thread.join(timeout=5)
        sock.close()


def test_one_environment_cannot_reach_another_by_address(lamina: LaminaProcess) -> None:
    lamina.create("sec-out-b", python_zip(LISTEN_PY))
    lamina.create("sec-out-a", python_zip(PROBE_PY))
    b_address = lamina.invoke("sec-out-b", {}).json()["address"]
    assert b_address and b_address.startswith("10.")
    out = lamina.invoke("sec-out-a", {"targets": [[b_address, 8080]]}).json()
    assert out["results"]["8080"] in ("TimeoutError", "timeout")


def test_outbound_can_be_turned_off(tmp_path: Path, test_host: OutsideHost) -> None:
    server = LaminaProcess(
        tmp_path, {"LAMINA_ISOLATION": "process", "LAMINA_NETWORK_OUTBOUND": "false"}
    ).start()
    try:
        server.create("sec-out-off", python_zip(PROBE_PY))
        out = server.invoke(
            "sec-out-off", {"targets": [[test_host.address, test_host.port]]}
        ).json()
        assert out["interfaces"] == ["lo"]
        assert out["results"] == {str(test_host.port): "OSError"}  # network unreachable
    finally:
        server.stop()


def test_forked_environments_reach_the_outside_too(
    lamina: LaminaProcess, test_host: OutsideHost
) -> None:
    lamina.create("sec-out-snap", python_zip(PROBE_PY), SnapStart={"ApplyOn": "PublishedVersions"})
    for _ in range(2):  # the invoke that makes the zygote, then a restore
        out = lamina.invoke("sec-out-snap", {"targets": [[test_host.address, test_host.port]]})
        assert out.json()["results"] == {str(test_host.port): "connected outside-hello\n"}
        assert out.json()["interfaces"] == ["eth0", "lo"]
