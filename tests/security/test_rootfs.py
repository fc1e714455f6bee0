"""Each environment has its own minimal, read-only root filesystem: no host files, no
other function's code or data, and what runtimes need (users, CA certificates) works."""

from __future__ import annotations

import json
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, python_zip, zip_files

pytestmark = pytest.mark.privileged

ROOTFS_PY = """
import json, os, pwd, ssl

def _attempt(fn):
    try:
        return fn()
    except OSError as exc:
        return type(exc).__name__

def _write(path):
    with open(path, "w") as f:
        f.write("x")
    return "written"

def handler(event, context):
    me = pwd.getpwuid(os.getuid())
    return {
        "root": sorted(os.listdir("/")),
        "dev": sorted(os.listdir("/dev")),
        "etc": sorted(os.listdir("/etc")),
        "user": [me.pw_name, me.pw_dir],
        "ca": ssl.create_default_context().cert_store_stats()["x509_ca"],
        "probes": {p: os.path.exists(p) for p in event["paths"]},
        "init_cmdline": open("/proc/1/cmdline", "rb").read().replace(b"\\0", b" ").decode().strip(),
        "write_root": _attempt(lambda: _write("/evil")),
        "write_etc": _attempt(lambda: _write("/etc/passwd")),
        "write_task": _attempt(lambda: _write("/var/task/evil")),
        "write_tmp": _attempt(lambda: _write("/tmp/fine")),
        "task": sorted(os.listdir("/var/task")),
    }
"""


def test_the_root_holds_only_what_functions_need(lamina: LaminaProcess) -> None:
    lamina.create("sec-root", python_zip(ROOTFS_PY))
    lamina.create("sec-root-other", python_zip("def handler(e, c):\n    return 'secret code'\n"))
    host_only = [
        str(lamina.data_dir),  # Lamina's data: every function's code, logs, database
        "/root",
        "/work",
        "/home/" + "nobody",
        "/etc/shadow",
        "/etc/hostname-of-the-host",
        "/var/lib",
        "/run",
        "/boot",
        str(Path(__file__).resolve()),
    ]
    out = lamina.invoke("sec-root", {"paths": host_only}).json()
    assert out["probes"] == {p: False for p in host_only}
    assert set(out["root"]) <= {
        "bin", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "opt", "proc", "sbin",
        "sys", "tmp", "usr", "var",
    }  # fmt: skip
    assert {"usr", "etc", "var", "tmp", "proc", "dev"} <= set(out["root"])
    assert set(out["dev"]) <= {
        "null", "zero", "full", "random", "urandom", "tty", "fd", "stdin", "stdout", "stderr",
        "shm",
    }  # fmt: skip
    assert "shadow" not in out["etc"] and "passwd" in out["etc"]
    assert out["user"] == ["sbx_user1051", "/home/sbx_user1051"]
    assert out["ca"] > 0  # the host's CA bundle, for TLS to the outside
    assert str(lamina.data_dir) not in out["init_cmdline"]  # no host paths through /proc/1
    assert out["write_root"] == out["write_etc"] == out["write_task"] == "OSError"
    assert out["write_tmp"] == "written"
    assert out["task"] == ["app.py"]  # only its own code


def test_node_sees_its_user_and_home(lamina: LaminaProcess) -> None:
    index = textwrap.dedent(
        """
        const os = require("node:os");
        exports.handler = async () => ({ user: os.userInfo().username, home: os.userInfo().homedir });
        """
    )
    lamina.create("sec-root-node", zip_files({"index.js": index}), runtime="nodejs20.x",
                  handler="index.handler")  # fmt: skip
    out = lamina.invoke("sec-root-node", {})
    assert out.function_error is None, out.payload
    assert json.loads(out.payload) == {"user": "sbx_user1051", "home": "/home/sbx_user1051"}


SNOOP_PY = """
import os

def handler(event, context):
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("environ", "cmdline"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    if event["secret"].encode() in f.read():
                        found.append(f"{pid}/{name}")
            except OSError:
                pass
    for root, _dirs, files in os.walk("/tmp"):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                if event["secret"].encode() in f.read():
                    found.append(os.path.join(root, name))
    return {"found": found, "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}
"""

KEEPER_PY = """
import time

def handler(event, context):
    with open("/tmp/keeper-secret", "w") as f:
        f.write(event["secret"])
    time.sleep(event["sleep"])
    return "kept"
"""


def test_another_functions_environment_and_tmp_are_out_of_reach(lamina: LaminaProcess) -> None:
    import concurrent.futures

    secret = "b-secret-7f3a9c"
    lamina.create(
        "sec-keeper",
        python_zip(KEEPER_PY),
        Timeout=30,
        Environment={"Variables": {"TOKEN": secret}},
    )
    lamina.create("sec-snoop", python_zip(SNOOP_PY))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        busy = pool.submit(lamina.invoke, "sec-keeper", {"secret": secret, "sleep": 3})
        time.sleep(1.5)
        out = lamina.invoke("sec-snoop", {"secret": secret}).json()
        assert busy.result().json() == "kept"
    assert out["found"] == []
    assert max(out["pids"]) < 10  # its own pid namespace: no other environment's processes
