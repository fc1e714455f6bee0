"""Layers: published with boto3, merged under /opt in order, seen by Python and Node.

A real server in the process tier (root, cgroups, namespaces) and boto3, as a user drives
Lambda: publish layer versions, give them to functions, invoke, read them back, delete.
"""

from __future__ import annotations

import io
import re
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import (
    LaminaProcess,
    api_error,
    aws_cli,
    cli_json,
    python_zip,
    unvalidated_client,
    zip_files,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

PY = "3.12"

PROBE = """
import os, sys

def handler(event, context):
    import mod_a
    from mod_b import where
    return {
        "a": mod_a.NAME,
        "b": where(),
        "shared": open("/opt/shared.txt").read(),
        "path": sys.path[:3],
        "PATH": os.environ["PATH"],
        "LD": os.environ["LD_LIBRARY_PATH"],
        "tool": os.path.exists("/opt/bin/tool"),
        "writable": os.access("/opt/python", os.W_OK),
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("lamina-layers")
    proc = LaminaProcess(data, {"LAMINA_FREEZE_GRACE_S": "0.05"}).start()
    yield proc
    proc.stop()


def publish(
    server: LaminaProcess,
    name: str,
    files: dict[str, str | bytes],
    executable: tuple[str, ...] = ("bin/tool",),
    **extra: Any,
) -> Any:
    return server.lambda_client().publish_layer_version(
        LayerName=name, Content={"ZipFile": zip_files(files, executable)}, **extra
    )


@pytest.fixture(scope="module")
def two_layers(server: LaminaProcess) -> tuple[str, str]:
    first = publish(
        server,
        "lay-a",
        {
            "python/mod_a.py": "NAME = 'from layer a'\n",
            "shared.txt": "a",
            "bin/tool": "#!/bin/sh\necho tool\n",
        },
        CompatibleRuntimes=["python3.12"],
        Description="first",
    )
    second = publish(
        server,
        "lay-b",
        {
            f"python/lib/python{PY}/site-packages/mod_b/__init__.py": (
                "import os\ndef where():\n    return os.path.dirname(__file__)\n"
            ),
            "shared.txt": "b",
        },
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    return first["LayerVersionArn"], second["LayerVersionArn"]


def test_a_python_function_imports_a_module_from_each_of_two_layers(
    server: LaminaProcess, two_layers: tuple[str, str]
) -> None:
    a, b = two_layers
    server.create("lay-py", python_zip(PROBE), runtime="python3.12", Layers=[a, b])
    out = server.invoke("lay-py", {})
    assert out.function_error is None, out.payload
    seen = out.json()
    assert seen["a"] == "from layer a"
    assert seen["b"] == f"/opt/python/lib/python{PY}/site-packages/mod_b"
    # Merged in order: the later layer's file wins.
    assert seen["shared"] == "b"
    # Lambda's order: the task root, the layers' site-packages, then /opt/python.
    assert seen["path"] == [
        "/var/task",
        f"/opt/python/lib/python{PY}/site-packages",
        "/opt/python",
    ]
    assert seen["PATH"].split(":")[-1] == "/opt/bin" and seen["tool"] is True
    assert seen["LD"].split(":")[-1] == "/opt/lib"
    assert seen["writable"] is False  # read-only, like the task root


def test_get_function_shows_the_layers_and_an_update_removes_them(
    server: LaminaProcess, two_layers: tuple[str, str]
) -> None:
    a, b = two_layers
    client = server.lambda_client()
    server.create("lay-upd", python_zip(PROBE), runtime="python3.12", Layers=[a, b])
    layers = client.get_function(FunctionName="lay-upd")["Configuration"]["Layers"]
    assert [entry["Arn"] for entry in layers] == [a, b]
    assert all(entry["CodeSize"] > 0 for entry in layers)
    assert server.invoke("lay-upd", {}).function_error is None
    client.update_function_configuration(FunctionName="lay-upd", Layers=[])
    cfg = client.get_function_configuration(FunctionName="lay-upd")
    assert "Layers" not in cfg
    out = server.invoke("lay-upd", {})
    assert out.function_error == "Unhandled"
    assert "No module named 'mod_a'" in out.json()["errorMessage"]


def test_a_function_keeps_its_layers_after_the_version_is_deleted(server: LaminaProcess) -> None:
    client = server.lambda_client()
    arn = publish(server, "lay-gone", {"python/gone_mod.py": "X = 41\n"})["LayerVersionArn"]
    code = "def handler(e, c):\n    import gone_mod\n    return gone_mod.X + 1\n"
    server.create("lay-keep", python_zip(code), runtime="python3.12", Layers=[arn])
    client.delete_layer_version(LayerName="lay-gone", VersionNumber=1)
    assert server.invoke("lay-keep", {}).json() == 42
    code_, status, _ = api_error(
        lambda: client.get_layer_version(LayerName="lay-gone", VersionNumber=1)
    )
    assert (code_, status) == ("ResourceNotFoundException", 404)


def test_forked_snapstart_environments_see_the_layers(
    server: LaminaProcess, two_layers: tuple[str, str]
) -> None:
    a, b = two_layers
    client = server.lambda_client()
    server.create(
        "lay-snap",
        python_zip(PROBE),
        runtime="python3.12",
        Layers=[a, b],
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    client.publish_version(FunctionName="lay-snap")
    out = server.invoke("lay-snap", {}, Qualifier="1")
    assert out.function_error is None, out.payload
    assert out.json()["a"] == "from layer a" and out.json()["shared"] == "b"


def test_a_node_function_requires_a_package_from_a_layers_node_modules(
    server: LaminaProcess,
) -> None:
    arn = publish(
        server,
        "lay-node",
        {
            "nodejs/node_modules/greet/package.json": '{"name":"greet","main":"index.js"}',
            "nodejs/node_modules/greet/index.js": "exports.hi = (n) => `hi ${n}`;\n",
            "nodejs/node20/node_modules/pinned/index.js": "module.exports = 'node20';\n",
        },
        CompatibleRuntimes=["nodejs20.x"],
    )["LayerVersionArn"]
    handler = (
        "const greet = require('greet');\nconst pinned = require('pinned');\n"
        "exports.handler = async () => ({ msg: greet.hi('layer'), pinned, "
        "nodePath: process.env.NODE_PATH });\n"
    )
    server.create(
        "lay-node-fn",
        zip_files({"index.js": handler}),
        runtime="nodejs20.x",
        handler="index.handler",
        Layers=[arn],
    )
    out = server.invoke("lay-node-fn", {})
    assert out.function_error is None, out.payload
    body = out.json()
    assert body["msg"] == "hi layer" and body["pinned"] == "node20"
    assert body["nodePath"].split(":")[:2] == [
        "/opt/nodejs/node20/node_modules",
        "/opt/nodejs/node_modules",
    ]


def test_layer_versions_are_listed_read_and_numbered(server: LaminaProcess) -> None:
    client = server.lambda_client()
    one = publish(server, "lay-list", {"python/v.py": "V = 1\n"}, CompatibleRuntimes=["python3.12"])
    two = publish(server, "lay-list", {"python/v.py": "V = 2\n"}, CompatibleRuntimes=["python3.13"])
    assert (one["Version"], two["Version"]) == (1, 2)
    assert re.fullmatch(r"arn:aws:lambda:us-east-1:\d{12}:layer:lay-list:2", two["LayerVersionArn"])
    got = client.get_layer_version_by_arn(Arn=two["LayerVersionArn"])
    assert got["Content"]["CodeSha256"] == two["Content"]["CodeSha256"]
    # Content.Location is a presigned link to the archive.
    with urllib.request.urlopen(got["Content"]["Location"]) as resp:
        archive = zipfile.ZipFile(io.BytesIO(resp.read()))
    assert archive.read("python/v.py") == b"V = 2\n"
    versions = client.list_layer_versions(LayerName="lay-list")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    filtered = client.list_layer_versions(LayerName="lay-list", CompatibleRuntime="python3.12")
    assert [v["Version"] for v in filtered["LayerVersions"]] == [1]
    layers = {item["LayerName"]: item for item in client.list_layers()["Layers"]}
    assert layers["lay-list"]["LatestMatchingVersion"]["Version"] == 2
    match = client.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert {i["LayerName"]: i["LatestMatchingVersion"]["Version"] for i in match}["lay-list"] == 1
    # Numbers are never reused, as on Lambda.
    client.delete_layer_version(LayerName="lay-list", VersionNumber=2)
    three = publish(server, "lay-list", {"python/v.py": "V = 3\n"})
    assert three["Version"] == 3


def test_layer_version_permissions(server: LaminaProcess) -> None:
    client = server.lambda_client()
    publish(server, "lay-perm", {"python/p.py": ""})
    added = client.add_layer_version_permission(
        LayerName="lay-perm",
        VersionNumber=1,
        StatementId="everyone",
        Action="lambda:GetLayerVersion",
        Principal="*",
    )
    assert '"Sid": "everyone"' in added["Statement"]
    policy = client.get_layer_version_policy(LayerName="lay-perm", VersionNumber=1)
    assert '"Principal": {"AWS": "*"}' in policy["Policy"]
    assert policy["RevisionId"] == added["RevisionId"]
    code, status, _ = api_error(
        lambda: client.add_layer_version_permission(
            LayerName="lay-perm",
            VersionNumber=1,
            StatementId="everyone",
            Action="lambda:GetLayerVersion",
            Principal="123456789012",
        )
    )
    assert (code, status) == ("ResourceConflictException", 409)
    client.remove_layer_version_permission(
        LayerName="lay-perm", VersionNumber=1, StatementId="everyone"
    )
    code, status, _ = api_error(
        lambda: client.get_layer_version_policy(LayerName="lay-perm", VersionNumber=1)
    )
    assert (code, status) == ("ResourceNotFoundException", 404)


def test_bad_layers_get_lambdas_errors(server: LaminaProcess, two_layers: tuple[str, str]) -> None:
    a = two_layers[0]
    client = unvalidated_client(server)
    code = python_zip("def handler(e, c):\n    return 1\n")
    missing = a.rsplit(":", 1)[0] + ":99"

    def create(layers: list[str]) -> Any:
        return lambda: server.create("lay-bad", code, Layers=layers)

    err = api_error(create([missing]))
    assert err == (
        "InvalidParameterValueException",
        400,
        f"Layer version {missing} does not exist.",
    )
    err = api_error(create([a] * 6))
    assert err[2] == "Cannot reference more than 5 layers."
    other_version = a.rsplit(":", 1)[0] + ":2"
    publish(server, "lay-a", {"python/mod_a.py": "NAME = 'v2'\n"})
    err = api_error(create([a, other_version]))
    assert err[0] == "InvalidParameterValueException" and "same layer" in err[2]
    err = api_error(create(["arn:aws:lambda:us-east-1:000000000000:function:nope"]))
    assert err[0] == "InvalidParameterValueException" and "at 'layers'" in err[2]
    err = api_error(
        lambda: client.publish_layer_version(LayerName="bad name!", Content={"ZipFile": code})
    )
    assert err[0] == "InvalidParameterValueException"
    err = api_error(
        lambda: client.publish_layer_version(LayerName="lay-x", Content={"ZipFile": b"not a zip"})
    )
    assert err[:2] == ("InvalidZipFileException", 502) and "unzip" in err[2]
    # Nothing was created by the failed calls.
    err = api_error(lambda: client.get_function(FunctionName="lay-bad"))
    assert err[0] == "ResourceNotFoundException"


def _big_layer(megabytes: int) -> bytes:
    """A small zip that unpacks to ``megabytes`` MB of zeros."""
    buf = io.BytesIO()
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf,
        zf.open("data/zeros.bin", "w", force_zip64=True) as out,
    ):
        chunk = bytes(1 << 20)
        for _ in range(megabytes):
            out.write(chunk)
    return buf.getvalue()


def test_code_and_layers_together_are_held_to_250_mb(server: LaminaProcess) -> None:
    client = server.lambda_client()
    big = _big_layer(130)
    arns = [
        client.publish_layer_version(LayerName=f"lay-big{i}", Content={"ZipFile": big})[
            "LayerVersionArn"
        ]
        for i in range(2)
    ]
    code = python_zip("def handler(e, c):\n    return 1\n")
    err = api_error(lambda: server.create("lay-huge", code, Layers=arns))
    assert err[0] == "InvalidParameterValueException"
    assert err[2].startswith(
        "Function code combined with layers exceeds the maximum allowed size of 262144000 bytes."
    )
    server.create("lay-huge", code, Layers=arns[:1])
    err = api_error(
        lambda: client.update_function_configuration(FunctionName="lay-huge", Layers=arns)
    )
    assert err[0] == "InvalidParameterValueException"


def test_a_custom_runtimes_bootstrap_may_come_from_a_layer(server: LaminaProcess) -> None:
    bootstrap = (
        "#!/bin/sh\n"
        'api="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation"\n'
        "while true; do\n"
        '  id=$(curl -sSi "$api/next" | tr -d "\\r" | '
        "sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')\n"
        '  curl -sS -X POST "$api/$id/response" -d "\\"from $0\\"" >/dev/null\n'
        "done\n"
    )
    arn = publish(server, "lay-boot", {"bootstrap": bootstrap}, executable=("bootstrap",))[
        "LayerVersionArn"
    ]
    server.create(
        "lay-boot-fn",
        zip_files({"handler.txt": "no bootstrap here"}),
        runtime="provided.al2023",
        handler="x",
        Layers=[arn],
    )
    out = server.invoke("lay-boot-fn", {})
    assert out.function_error is None, out.payload
    assert out.json() == "from /opt/bootstrap"


def test_the_aws_cli_publishes_and_reads_a_layer(server: LaminaProcess, tmp_path: Path) -> None:
    archive = tmp_path / "layer.zip"
    archive.write_bytes(zip_files({"python/cli_mod.py": "X = 1\n"}))

    def aws(*args: str) -> Any:
        return cli_json(aws_cli(server, tmp_path, "lambda", *args))

    published = aws(
        "publish-layer-version",
        "--layer-name",
        "lay-cli",
        "--zip-file",
        f"fileb://{archive}",
        "--compatible-runtimes",
        "python3.12",
    )
    assert published["Version"] == 1
    got = aws("get-layer-version-by-arn", "--arn", published["LayerVersionArn"])
    assert got["Content"]["CodeSha256"] == published["Content"]["CodeSha256"]
    listed = aws("list-layers", "--compatible-runtime", "python3.12")
    assert "lay-cli" in [layer["LayerName"] for layer in listed["Layers"]]
    aws("delete-layer-version", "--layer-name", "lay-cli", "--version-number", "1")
    assert aws("list-layer-versions", "--layer-name", "lay-cli")["LayerVersions"] == []


def test_without_mounts_the_rlimits_tier_finds_layers_where_they_are(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data: Path = tmp_path_factory.mktemp("lamina-layers-rlimits")
    proc = LaminaProcess(data, {"LAMINA_ISOLATION": "none"}).start()
    try:
        arn = publish(proc, "lay-rl", {"python/rl_mod.py": "X = 'rl'\n"})["LayerVersionArn"]
        code = (
            "import os\ndef handler(e, c):\n    import rl_mod\n"
            "    return [rl_mod.X, rl_mod.__file__, os.environ['PATH']]\n"
        )
        proc.create("lay-rl-fn", python_zip(code), runtime="python3.12", Layers=[arn])
        out = proc.invoke("lay-rl-fn", {})
        assert out.function_error is None, out.payload
        value, where, path = out.json()
        opt = str(data / "code" / "opt")
        assert value == "rl" and where.startswith(opt) and where.endswith("/python/rl_mod.py")
        assert path.split(":")[-1].startswith(opt) and path.endswith("/bin")
    finally:
        proc.stop()
