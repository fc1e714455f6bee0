"""The benches find a real server's cgroups through the sandbox's own layout."""

from __future__ import annotations

import time

import pytest

from bench import server_groups
from bench.functions import WARM_FUNCTIONS
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path

pytestmark = [pytest.mark.slow, pytest.mark.privileged]


def test_a_servers_groups_memory_and_frozen_environments_are_found_and_gone_after_it() -> None:
    if server_groups.server_layout(0) is None:
        pytest.skip("no usable cgroup hierarchy on this host")
    server = LaminaServer().start()
    assert server.pid is not None
    pid = server.pid
    try:
        code = WARM_FUNCTIONS[0].code()  # the Rust no-op bootstrap
        server.api().create_function(
            "groups", code, "provided.al2023", "bootstrap", 128, timeout_s=TIMEOUT_S
        )
        conn = RawConnection(server.host, server.port)
        assert conn.send_raw(render_request("POST", invoke_path("groups"), b"{}", {})).status == 200
        envs = server_groups.environment_ids(pid)
        assert len(envs) == 1
        assert server_groups.memory_usage_mb(pid) > 0
        assert server_groups.processes(pid, envs)  # the runtime and its jail
        deadline = time.monotonic() + 30
        while server_groups.frozen_count(pid, envs) != 1 and time.monotonic() < deadline:
            time.sleep(0.1)  # idle past the freeze grace
        assert server_groups.frozen_count(pid, envs) == 1
        assert server_groups.left_behind(pid)  # the server's own groups, while it runs
    finally:
        server.stop()
    assert server_groups.left_behind(pid) == []
