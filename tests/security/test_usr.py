"""The environments' /usr is made for functions: no compilers, package managers, setuid
programs or host packages to read or run; what functions use still works (Python's
stdlib with its native modules, CA certificates, time zones, a shell and its tools, Node's
crypto), in Python, Node and a shell ``bootstrap``."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, python_zip, running_lamina, zip_files

pytestmark = pytest.mark.privileged

# What hostile code must not find (most exist on a Debian build host like this one: the
# tests check that some do, so that their absence inside means something).
HOST_ONLY = [
    "/usr/bin/gcc",
    "/usr/bin/cc",
    "/usr/bin/as",
    "/usr/bin/ld",
    "/usr/bin/apt",
    "/usr/bin/dpkg",
    "/usr/bin/sudo",
    "/usr/bin/su",
    "/usr/bin/ssh",
    "/usr/bin/pip3",
    "/usr/bin/perl",
    "/usr/lib/gcc",
    "/usr/lib/python3/dist-packages",
    "/usr/local/bin",
    "/bin/su",
    "/sbin/ldconfig",
]

PROBE_PY = """
import ctypes, json, os, sqlite3, ssl, subprocess, zoneinfo
import bz2, decimal, hashlib, lzma, uuid, datetime

def handler(event, context):
    tz = datetime.datetime(2024, 7, 1, 12, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    libc = ctypes.CDLL("libc.so.6")
    db = sqlite3.connect(":memory:")
    paths = ssl.get_default_verify_paths()
    return {
        "present": [p for p in event["paths"] if os.path.lexists(p)],
        "usr_bin": sorted(os.listdir("/usr/bin")),
        "setuid": [
            os.path.join(d, n) for d, _, names in os.walk("/usr") for n in names
            if not os.path.islink(os.path.join(d, n))
            and os.stat(os.path.join(d, n)).st_mode & 0o6000
        ],
        "alternatives": {
            n: os.path.exists("/etc/alternatives/" + n) for n in os.listdir("/etc/alternatives")
        },
        "ld_cache": os.path.getsize("/etc/ld.so.cache"),
        "utc_offset": tz.utcoffset().total_seconds(),
        "getpid": libc.getpid() == os.getpid(),
        "sqlite": db.execute("select sqlite_version()").fetchone()[0],
        "cafile": paths.cafile is not None and os.path.exists(paths.cafile),
        "ca": ssl.create_default_context().cert_store_stats()["x509_ca"],
        "sh": subprocess.run(
            ["/bin/sh", "-c", "echo hi > /tmp/x && ls /tmp | wc -l"],
            capture_output=True, text=True,
        ).stdout.strip(),
        "uuid": len(str(uuid.uuid4())),
        "compressed": len(lzma.compress(bz2.compress(b"x" * 1000))) > 0,
        "sha3": hashlib.sha3_256(b"x").hexdigest()[:8],
        "decimal": str(decimal.Decimal(1) / 3)[:4],
    }
"""


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12", "python3.13"])
def test_python_finds_no_host_programs_and_its_stdlib_works(
    lamina: LaminaProcess, runtime: str
) -> None:
    """Debian's Python 3.11 runs from the tree; pyenv's 3.12 and 3.13 from their prefix,
    with the libraries their native modules need (libssl, libsqlite3, libffi...) in it."""
    name = "sec-usr-" + runtime.replace(".", "-")
    lamina.create(name, python_zip(PROBE_PY), runtime=runtime)
    out = lamina.invoke(name, {"paths": HOST_ONLY})
    assert out.function_error is None, out.payload
    got = out.json()
    assert len([p for p in HOST_ONLY if os.path.lexists(p)]) >= 5
    assert got["present"] == []
    assert got["setuid"] == []
    assert {"sh", "bash", "ls", "cat", "curl", "python3"} <= set(got["usr_bin"])
    assert not {"gcc", "apt", "sudo", "ssh", "make", "git"} & set(got["usr_bin"])
    # Only the alternatives that lead into the tree (awk -> mawk), none that leads nowhere.
    assert "cc" not in got["alternatives"]
    if os.path.lexists("/etc/alternatives/awk"):
        assert "awk" in got["alternatives"]
    assert all(got["alternatives"].values()), got["alternatives"]
    # The linker's cache names the tree's libraries, not the host's hundreds.
    assert 0 < got["ld_cache"] < os.path.getsize("/etc/ld.so.cache")
    assert got["utc_offset"] == 7200
    assert got["getpid"] is True
    assert got["sqlite"].startswith("3.")
    assert got["cafile"] is True and got["ca"] > 0
    assert got["sh"] == "1"
    assert got["uuid"] == 36 and got["compressed"] is True
    assert got["sha3"] == "741efa31" and got["decimal"] == "0.33"


def test_node_finds_no_host_programs_and_its_crypto_works(lamina: LaminaProcess) -> None:
    index = textwrap.dedent(
        """
        const fs = require("node:fs");
        const crypto = require("node:crypto");
        const tls = require("node:tls");
        const { execSync } = require("node:child_process");
        exports.handler = async (event) => ({
          present: event.paths.filter((p) => { try { fs.lstatSync(p); return true; } catch { return false; } }),
          hash: crypto.createHash("sha256").update("x").digest("hex").slice(0, 8),
          random: crypto.randomBytes(16).length,
          roots: tls.rootCertificates.length > 0,
          sh: execSync("ls / | grep -c usr").toString().trim(),
          gccFromShell: execSync("command -v gcc apt sudo || true").toString(),
        });
        """
    )
    lamina.create("sec-usr-node", zip_files({"index.js": index}), runtime="nodejs20.x",
                  handler="index.handler")  # fmt: skip
    out = lamina.invoke("sec-usr-node", {"paths": HOST_ONLY})
    assert out.function_error is None, out.payload
    got = out.json()
    assert got["present"] == []
    assert got["hash"] == "2d711642" and got["random"] == 16 and got["roots"] is True
    assert got["sh"] == "1"
    assert got["gccFromShell"] == ""


SHELL_BOOTSTRAP = """#!/bin/sh
# A custom runtime in sh: answers each event with what it finds of the host's programs.
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  curl -sS -D "$headers" -o /dev/null "$api/invocation/next"
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  found=""
  for p in /usr/bin/gcc /usr/bin/apt /usr/bin/sudo /usr/bin/dpkg /usr/lib/python3/dist-packages; do
    if [ -e "$p" ]; then found="$found $p"; fi
  done
  count=$(ls /usr/bin | wc -l)
  tmp=$(ls /tmp | wc -l)
  curl -sS -X POST "$api/invocation/$rid/response" \\
    -d "{\\"found\\": \\"$found\\", \\"count\\": $count, \\"tmp\\": $tmp}" >/dev/null
done
"""


def test_a_shell_bootstrap_has_its_tools_and_no_others(lamina: LaminaProcess) -> None:
    code = zip_files({"bootstrap": SHELL_BOOTSTRAP}, executable=("bootstrap",))
    lamina.create("sec-usr-sh", code, runtime="provided.al2023", handler="x")
    out = lamina.invoke("sec-usr-sh", {})
    assert out.function_error is None, out.payload
    got = json.loads(out.payload)
    assert got["found"] == ""
    assert 0 < got["count"] < 200  # the host's /usr/bin holds over a thousand
    assert got["tmp"] == 1  # its own mktemp file


def test_own_usr_off_binds_the_hosts_usr(tmp_path: Path) -> None:
    """The switch (LAMINA_OWN_USR=false) is real: the host's /usr, whole, and no tree."""
    if not os.path.exists("/usr/bin/gcc"):
        pytest.skip("no /usr/bin/gcc on this host to look for")
    probe = "import os\ndef handler(event, context):\n    return os.path.exists('/usr/bin/gcc')\n"
    with running_lamina(tmp_path, LAMINA_ISOLATION="process", LAMINA_OWN_USR="false") as server:
        server.create("sec-usr-off", python_zip(probe))
        out = server.invoke("sec-usr-off", {})
    assert out.function_error is None, out.payload
    assert out.json() is True
    assert list((tmp_path / "rootfs").glob("usr-*")) == []
