"""The Lambda control plane driven with boto3 against a real ``lamina serve``, as users do.

One server for the module. Every test creates the functions it needs (under its own
names), so any test runs alone and in any order; the restart test builds versions,
aliases, tags, URL configurations and reserved concurrency, restarts the server on the
same data directory and checks that nothing was lost.
"""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, python_zip
from tests.integration.harness import api_error as error_of
from tests.integration.harness import unvalidated_client as raw_client

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

REGION, ACCOUNT = "us-east-1", "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lambda-role"
ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"


def answer(text: str) -> bytes:
    """A function that returns ``text`` and the ARN it was invoked as."""
    return python_zip(f"""
    def handler(event, context):
        return {{"v": {text!r}, "arn": context.invoked_function_arn}}
    """)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-boto3")


@pytest.fixture(scope="module")
def server(data_dir: Path) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(data_dir).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def lam(server: LaminaProcess) -> Any:
    # Per test: the restart test gives the server a new port.
    return server.lambda_client()


def invoke(lam: Any, name: str, qualifier: str | None = None) -> tuple[Any, str]:
    kwargs: dict[str, Any] = {"FunctionName": name, "Payload": b"{}"}
    if qualifier:
        kwargs["Qualifier"] = qualifier
    out = lam.invoke(**kwargs)
    assert out["StatusCode"] == 200 and "FunctionError" not in out, out
    return json.loads(out["Payload"].read()), str(out["ExecutedVersion"])


def create_basic(lam: Any, name: str, code: bytes | None = None) -> dict[str, Any]:
    """A function with a description, memory, timeout, environment and a tag."""
    created: dict[str, Any] = lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": code or answer("one")},
        Description="basic",
        MemorySize=256,
        Timeout=9,
        Environment={"Variables": {"COLOUR": "teal"}},
        Tags={"team": "core"},
    )
    return created


def create_published(lam: Any, name: str) -> None:
    """A function created with Publish: ``$LATEST`` and version 1, answering "p"."""
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": answer("p")},
        Publish=True,
    )


def create_versioned(lam: Any, name: str, live: str | None = None) -> None:
    """Versions 1 (answers v1), 2 (v1 at 192 MB) and 3 (answers v3); with ``live``, an
    alias ``live`` routing to that version."""
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": answer("v1")},
    )
    lam.publish_version(FunctionName=name, Description="first")
    lam.update_function_configuration(FunctionName=name, MemorySize=192)
    lam.publish_version(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=answer("v3"), Publish=True)
    if live is not None:
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion=live)


# -- functions -------------------------------------------------------------------------
def test_create_answers_lambdas_configuration_and_get_serves_the_zip(lam: Any) -> None:
    code = answer("one")
    created = create_basic(lam, "b3-basic", code)
    assert created["FunctionArn"] == f"{ARN}:b3-basic"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(code).digest()).decode()
    assert created["CodeSize"] == len(code)
    assert (created["State"], created["LastUpdateStatus"]) == ("Active", "Successful")
    assert created["Version"] == "$LATEST" and created["RevisionId"]
    assert created["LastModified"].endswith("+0000")
    got = lam.get_function(FunctionName="b3-basic")
    assert got["Configuration"]["Environment"]["Variables"] == {"COLOUR": "teal"}
    assert got["Tags"] == {"team": "core"}
    assert got["Code"]["RepositoryType"] == "S3"
    location = got["Code"]["Location"]
    assert "X-Amz-Signature=" in location
    with urllib.request.urlopen(location) as resp:  # no credentials: the URL is presigned
        assert resp.read() == code
    lam.get_waiter("function_active_v2").wait(FunctionName="b3-basic")
    lam.get_waiter("function_updated_v2").wait(FunctionName="b3-basic")


def test_create_with_publish_answers_version_1(lam: Any) -> None:
    out = lam.create_function(
        FunctionName="b3-published",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": answer("p")},
        Publish=True,
    )
    assert out["Version"] == "1"
    assert out["FunctionArn"] == f"{ARN}:b3-published:1"
    assert invoke(lam, "b3-published", "1")[1] == "1"


def test_code_from_the_bucket_folder(lam: Any, data_dir: Path) -> None:
    folder = data_dir / "buckets" / "deploys" / "releases"
    folder.mkdir(parents=True)
    (folder / "v1.zip").write_bytes(answer("from-s3"))
    (folder / "v2.zip").write_bytes(answer("from-s3-v2"))
    lam.create_function(
        FunctionName="b3-s3",
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"S3Bucket": "deploys", "S3Key": "releases/v1.zip"},
    )
    assert invoke(lam, "b3-s3")[0]["v"] == "from-s3"
    lam.update_function_code(FunctionName="b3-s3", S3Bucket="deploys", S3Key="releases/v2.zip")
    assert invoke(lam, "b3-s3")[0]["v"] == "from-s3-v2"
    for bucket, key, s3_code in [
        ("deploys", "releases/v3.zip", "NoSuchKey"),
        ("nobucket", "v1.zip", "NoSuchBucket"),
        ("deploys", "../deploys/releases/v1.zip", "NoSuchKey"),
    ]:
        with pytest.raises(ClientError) as info:
            lam.update_function_code(FunctionName="b3-s3", S3Bucket=bucket, S3Key=key)
        err = info.value.response
        code, status = err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]
        message = err["Error"]["Message"]
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert s3_code in message


def test_update_code_dry_run_checks_without_changing(lam: Any) -> None:
    name = "b3-dry"
    create_basic(lam, name)
    before = lam.get_function_configuration(FunctionName=name)
    dry = lam.update_function_code(FunctionName=name, ZipFile=answer("dry"), DryRun=True)
    assert dry["CodeSha256"] != before["CodeSha256"]
    after = lam.get_function_configuration(FunctionName=name)
    assert after["CodeSha256"] == before["CodeSha256"]
    assert after["RevisionId"] == before["RevisionId"]


def test_list_functions_with_all_versions(lam: Any) -> None:
    create_published(lam, "b3-listed")
    names = set()
    marker = None
    while True:
        kwargs: dict[str, Any] = {"FunctionVersion": "ALL", "MaxItems": 2}
        if marker:
            kwargs["Marker"] = marker
        page = lam.list_functions(**kwargs)
        names |= {(f["FunctionName"], f["Version"]) for f in page["Functions"]}
        marker = page.get("NextMarker")
        if not marker:
            break
    assert {("b3-listed", "$LATEST"), ("b3-listed", "1")} <= names


# -- versions --------------------------------------------------------------------------
def test_publish_is_an_immutable_snapshot_and_idempotent(lam: Any) -> None:
    name = "b3-snap"
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": answer("v1")},
    )
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert (v1["Version"], v1["Description"]) == ("1", "first")
    again = lam.publish_version(FunctionName=name)
    assert again["Version"] == "1", "nothing changed: Lambda answers the last version"
    lam.update_function_configuration(FunctionName=name, MemorySize=192)
    v2 = lam.publish_version(FunctionName=name)
    assert (v2["Version"], v2["MemorySize"]) == ("2", 192)
    updated = lam.update_function_code(FunctionName=name, ZipFile=answer("v3"), Publish=True)
    assert updated["Version"] == "3"
    assert invoke(lam, name, "1") == ({"v": "v1", "arn": f"{ARN}:{name}:1"}, "1")
    assert lam.get_function_configuration(FunctionName=name, Qualifier="2")["MemorySize"] == 192
    assert invoke(lam, name)[0]["v"] == "v3"
    versions = lam.list_versions_by_function(FunctionName=name, MaxItems=2)
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1"]
    assert [v["FunctionArn"] for v in versions["Versions"]] == [
        f"{ARN}:{name}:$LATEST",
        f"{ARN}:{name}:1",
    ]
    rest = lam.list_versions_by_function(FunctionName=name, Marker=versions["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["2", "3"]
    assert "NextMarker" not in rest


def test_publish_checks_revision_and_code_hash(lam: Any) -> None:
    name = "b3-rev"
    create_versioned(lam, name)
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    code, status, _ = error_of(lambda: lam.publish_version(FunctionName=name, RevisionId="x"))
    assert (code, status) == ("PreconditionFailedException", 412)
    code, status, message = error_of(
        lambda: lam.publish_version(FunctionName=name, CodeSha256="bm90LXRoZS1oYXNo")
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "CodeSHA256" in message
    latest = lam.get_function_configuration(FunctionName=name)
    ok = lam.publish_version(
        FunctionName=name, RevisionId=latest["RevisionId"], CodeSha256=latest["CodeSha256"]
    )
    assert ok["Version"] == "4" and ok["Timeout"] == 5


# -- aliases ---------------------------------------------------------------------------
def test_aliases_name_versions_and_invokes_follow_them(lam: Any) -> None:
    name = "b3-alias"
    create_versioned(lam, name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"] == f"{ARN}:{name}:live"
    assert (alias["FunctionVersion"], alias["RevisionId"] != "") == ("1", True)
    body, executed = invoke(lam, name, "live")
    assert (body, executed) == ({"v": "v1", "arn": f"{ARN}:{name}:live"}, "1")
    by_arn, executed = invoke(lam, f"{ARN}:{name}:live")
    assert (by_arn["v"], executed) == ("v1", "1")
    got = lam.get_alias(FunctionName=name, Name="live")
    got.pop("ResponseMetadata")
    alias.pop("ResponseMetadata")
    assert got == alias
    assert lam.get_function(FunctionName=name, Qualifier="live")["Configuration"]["Version"] == "1"
    updated = lam.update_alias(
        FunctionName=name, Name="live", FunctionVersion="3", RevisionId=alias["RevisionId"]
    )
    assert updated["FunctionVersion"] == "3" and updated["RevisionId"] != alias["RevisionId"]
    assert invoke(lam, name, "live") == ({"v": "v3", "arn": f"{ARN}:{name}:live"}, "3")
    code, status, _ = error_of(
        lambda: lam.update_alias(
            FunctionName=name, Name="live", FunctionVersion="1", RevisionId=alias["RevisionId"]
        )
    )
    assert (code, status) == ("PreconditionFailedException", 412)


def test_weighted_aliases_split_invokes_between_two_versions(lam: Any) -> None:
    name = "b3-weighted"
    create_versioned(lam, name, live="3")
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.5}},
    )
    seen = {invoke(lam, name, "canary")[1] for _ in range(40)}
    assert seen == {"1", "3"}  # P(one version 40 times) = 2 * 0.5**40
    lam.update_alias(
        FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {"3": 1}}
    )
    assert {invoke(lam, name, "canary")[1] for _ in range(5)} == {"3"}
    lam.update_alias(
        FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    got = lam.get_alias(FunctionName=name, Name="canary")
    assert "RoutingConfig" not in got or not got["RoutingConfig"].get("AdditionalVersionWeights")
    assert {invoke(lam, name, "canary")[1] for _ in range(5)} == {"1"}
    listed = lam.list_aliases(FunctionName=name)["Aliases"]
    assert [a["Name"] for a in listed] == ["canary", "live"]
    only_3 = lam.list_aliases(FunctionName=name, FunctionVersion="3")["Aliases"]
    assert [a["Name"] for a in only_3] == ["live"]
    first = lam.list_aliases(FunctionName=name, MaxItems=1)
    assert len(first["Aliases"]) == 1 and first["NextMarker"]


@pytest.fixture(scope="module")
def alias_target(server: LaminaProcess) -> str:
    """Versions 1-3 and an alias ``live``: what the refused aliases are checked against."""
    create_versioned(server.lambda_client(), "b3-bad-aliases", live="3")
    return "b3-bad-aliases"


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"Name": "live", "FunctionVersion": "1"}, "ResourceConflictException", "exists"),
        ({"Name": "ghost", "FunctionVersion": "99"}, "ResourceNotFoundException", ":99"),
        ({"Name": "123", "FunctionVersion": "1"}, "InvalidParameterValueException", "name"),
        (
            {
                "Name": "w",
                "FunctionVersion": "$LATEST",
                "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.1}},
            },
            "InvalidParameterValueException",
            "$LATEST",
        ),
        (
            {
                "Name": "w",
                "FunctionVersion": "1",
                "RoutingConfig": {"AdditionalVersionWeights": {"1": 0.1}},
            },
            "InvalidParameterValueException",
            "already included",
        ),
        (
            {
                "Name": "w",
                "FunctionVersion": "1",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 1.5}},
            },
            "InvalidParameterValueException",
            "less than or equal to 1.0",
        ),
        (
            {
                "Name": "w",
                "FunctionVersion": "1",
                "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1, "3": 0.1}},
            },
            "InvalidParameterValueException",
            "AdditionalVersionWeights",
        ),
    ],
    ids=["exists", "no-version", "numeric-name", "latest-weights", "same-version", "weight", "two"],
)
def test_bad_aliases_are_refused(
    server: LaminaProcess,
    alias_target: str,
    kwargs: dict[str, Any],
    error: str,
    fragment: str,
) -> None:
    code, _, message = error_of(
        lambda: raw_client(server).create_alias(FunctionName=alias_target, **kwargs)
    )
    assert code == error and fragment in message, message


def test_delete_version_and_alias_rules(lam: Any) -> None:
    name = "b3-delete"
    create_versioned(lam, name, live="3")
    lam.update_function_configuration(FunctionName=name, Timeout=5)
    lam.publish_version(FunctionName=name)  # version 4
    code, status, message = error_of(lambda: lam.delete_function(FunctionName=name, Qualifier="3"))
    assert (code, status) == ("ResourceConflictException", 409)
    assert "live" in message
    code, _, _ = error_of(lambda: lam.delete_function(FunctionName=name, Qualifier="$LATEST"))
    assert code == "InvalidParameterValueException"
    lam.delete_function(FunctionName=name, Qualifier="2")
    code, status, _ = error_of(lambda: invoke(lam, name, "2"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == [
        "$LATEST",
        "1",
        "3",
        "4",
    ]
    lam.create_alias(FunctionName=name, Name="doomed", FunctionVersion="4")
    lam.delete_alias(FunctionName=name, Name="doomed")
    code, status, _ = error_of(lambda: lam.get_alias(FunctionName=name, Name="doomed"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, _, _ = error_of(lambda: invoke(lam, name, "doomed"))
    assert code == "ResourceNotFoundException"


# -- concurrency, account, tags, URLs --------------------------------------------------------
def test_reserved_concurrency_is_stored_shown_and_enforced(lam: Any) -> None:
    name, published = "b3-conc", "b3-conc-published"
    create_basic(lam, name)
    create_published(lam, published)
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    put = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)
    assert put["ReservedConcurrentExecutions"] == 7
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    after = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    assert after == before - 7
    code, status, _ = error_of(
        lambda: lam.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=100_000
        )
    )
    assert (code, status) == ("InvalidParameterValueException", 400)
    lam.put_function_concurrency(FunctionName=published, ReservedConcurrentExecutions=0)
    code, status, _ = error_of(lambda: lam.invoke(FunctionName=published, Payload=b"{}"))
    assert (code, status) == ("TooManyRequestsException", 429)
    lam.delete_function_concurrency(FunctionName=published)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(
        FunctionName=published
    )
    assert invoke(lam, published)[0]["v"] == "p"


def test_account_settings_count_functions_and_all_versions_code(lam: Any) -> None:
    settings = lam.get_account_settings()
    functions = lam.list_functions(FunctionVersion="ALL", MaxItems=1000)["Functions"]
    assert settings["AccountUsage"]["FunctionCount"] == len({f["FunctionName"] for f in functions})
    assert settings["AccountUsage"]["TotalCodeSize"] == sum(f["CodeSize"] for f in functions)
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000


def test_tags_are_added_listed_and_removed(lam: Any) -> None:
    name = "b3-tags"
    create_basic(lam, name)
    arn = f"{ARN}:{name}"
    lam.tag_resource(Resource=arn, Tags={"env": "dev", "owner": "ana"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev", "owner": "ana"}
    lam.untag_resource(Resource=arn, TagKeys=["env", "team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"owner": "ana"}
    code, status, _ = error_of(lambda: lam.tag_resource(Resource=f"{arn}:1", Tags={"a": "b"}))
    assert (code, status) == ("InvalidParameterValueException", 400)
    code, status, _ = error_of(lambda: lam.list_tags(Resource=f"{ARN}:b3-nothing"))
    assert (code, status) == ("ResourceNotFoundException", 404)
    code, _, _ = error_of(lambda: lam.tag_resource(Resource=arn, Tags={"aws:x": "y"}))
    assert code == "InvalidParameterValueException"


def test_function_url_configs(lam: Any, server: LaminaProcess) -> None:
    name = "b3-urls"
    create_versioned(lam, name, live="3")
    created = lam.create_function_url_config(
        FunctionName=name,
        AuthType="NONE",
        Cors={"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET"], "MaxAge": 60},
    )
    url = created["FunctionUrl"]
    assert url.startswith(server.endpoint + "/lambda-url/") and url.endswith("/")
    assert created["FunctionArn"] == f"{ARN}:{name}" and created["AuthType"] == "NONE"
    code, status, _ = error_of(
        lambda: lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    )
    assert (code, status) == ("ResourceConflictException", 409)
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
    assert live["FunctionArn"] == f"{ARN}:{name}:live" and live["FunctionUrl"] != url
    updated = lam.update_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == url
    assert updated["Cors"]["AllowOrigins"] == ["https://example.com"]
    got = lam.get_function_url_config(FunctionName=name)
    assert got["LastModifiedTime"] >= got["CreationTime"]
    listed = lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"] for c in listed) == [f"{ARN}:{name}", f"{ARN}:{name}:live"]
    code, _, _ = error_of(
        lambda: lam.create_function_url_config(
            FunctionName=name, Qualifier="nosuch", AuthType="NONE"
        )
    )
    assert code == "ResourceNotFoundException"
    code, _, _ = error_of(
        lambda: lam.update_function_url_config(FunctionName=name, AuthType="SOMETIMES")
    )
    assert code in ("InvalidParameterValueException", "ParamValidationError")


# -- restart -------------------------------------------------------------------------------
def test_a_restart_loses_nothing(server: LaminaProcess, data_dir: Path) -> None:
    lam = server.lambda_client()
    name, basic = "b3-restart", "b3-restart-basic"
    # A deleted function's package: collected at the next start, unlike everyone else's.
    gone_code = answer("deleted before the restart")
    create_basic(lam, "b3-restart-gone", gone_code)
    lam.delete_function(FunctionName="b3-restart-gone")
    zips = data_dir / "code" / "zips"
    gone_zip = zips / f"{hashlib.sha256(gone_code).hexdigest()}.zip"
    assert gone_zip.is_file()
    create_versioned(lam, name, live="3")
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
    create_basic(lam, basic)
    lam.tag_resource(Resource=f"{ARN}:{basic}", Tags={"owner": "ana"})
    lam.put_function_concurrency(FunctionName=basic, ReservedConcurrentExecutions=7)

    def state() -> dict[str, Any]:
        return {
            "versions": lam.list_versions_by_function(FunctionName=name)["Versions"],
            "aliases": lam.list_aliases(FunctionName=name)["Aliases"],
            "urls": lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"],
            "tags": lam.list_tags(Resource=f"{ARN}:{basic}")["Tags"],
            "concurrency": lam.get_function_concurrency(FunctionName=basic),
        }

    before = state()
    server.stop()
    server.start()
    lam = server.lambda_client()
    after = state()
    for key in ("versions", "aliases", "tags"):
        assert after[key] == before[key], key
    assert after["tags"] == {"team": "core", "owner": "ana"}
    assert after["concurrency"]["ReservedConcurrentExecutions"] == 7

    def urls(items: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
        return sorted(
            (u["FunctionArn"], u["AuthType"], u["FunctionUrl"].split("/")[-2]) for u in items
        )

    assert urls(after["urls"]) == urls(before["urls"])
    assert len(after["urls"]) == 2
    assert invoke(lam, name, "live") == ({"v": "v3", "arn": f"{ARN}:{name}:live"}, "3")
    assert invoke(lam, name, "1")[1] == "1"
    assert not gone_zip.exists()
    in_use = {
        c["CodeSha256"]
        for c in lam.list_functions(FunctionVersion="ALL", MaxItems=1000)["Functions"]
    }
    on_disk = {base64.b64encode(bytes.fromhex(z.stem)).decode() for z in zips.glob("*.zip")}
    assert in_use <= on_disk


def test_deleting_a_function_removes_what_it_owned(lam: Any) -> None:
    name = "b3-owned"
    create_versioned(lam, name, live="3")
    lam.create_function_url_config(FunctionName=name, AuthType="NONE")
    lam.delete_function(FunctionName=name)
    for call in (
        lambda: lam.get_function(FunctionName=name),
        lambda: lam.list_aliases(FunctionName=name),
        lambda: lam.get_function_url_config(FunctionName=name),
        lambda: lam.invoke(FunctionName=name, Qualifier="live"),
    ):
        assert error_of(call)[:2] == ("ResourceNotFoundException", 404)
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": answer("again")},
    )
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []
    assert lam.publish_version(FunctionName=name)["Version"] == "1"


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.get_function(FunctionName="b3-missing"), "ResourceNotFoundException"),
        (
            lambda c: c.update_function_configuration(FunctionName="b3-missing", Timeout=3),
            "ResourceNotFoundException",
        ),
        (lambda c: c.delete_function(FunctionName="b3-missing"), "ResourceNotFoundException"),
        (lambda c: c.publish_version(FunctionName="b3-missing"), "ResourceNotFoundException"),
        (
            lambda c: c.get_function_concurrency(FunctionName="b3-missing"),
            "ResourceNotFoundException",
        ),
        (
            lambda c: c.create_function(
                FunctionName="b3-bad-role",
                Runtime="python3.12",
                Role="not-a-role",
                Handler="app.handler",
                Code={"ZipFile": b"x"},
            ),
            "InvalidParameterValueException",
        ),
        (
            lambda c: c.create_function(
                FunctionName="b3-no-code",
                Runtime="python3.12",
                Role=ROLE,
                Handler="app.handler",
                Code={},
            ),
            "InvalidParameterValueException",
        ),
        (
            lambda c: c.create_function(
                FunctionName="b3-layers",
                Runtime="python3.12",
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": b"x"},
                Layers=["arn:aws:lambda:us-east-1:000000000000:layer:x:1"],
            ),
            "InvalidParameterValueException",
        ),
        (
            lambda c: c.create_function(
                FunctionName="bad name!",
                Runtime="python3.12",
                Role=ROLE,
                Handler="app.handler",
                Code={"ZipFile": b"x"},
            ),
            "InvalidParameterValueException",
        ),
        (
            lambda c: c.list_functions(MaxItems=0),
            "InvalidParameterValueException",
        ),
    ],
    ids=[
        "get",
        "update-config",
        "delete",
        "publish",
        "concurrency",
        "role",
        "no-code",
        "layers",
        "name",
        "max-items",
    ],
)
def test_errors_raise_the_right_botocore_exception(
    server: LaminaProcess, call: Callable[[Any], object], error: str
) -> None:
    client = raw_client(server)
    code, _, _ = error_of(lambda: call(client))
    assert code == error
    # boto3 builds a class per modelled error: the right one is raised.
    with pytest.raises(getattr(client.exceptions, error)):
        call(client)
