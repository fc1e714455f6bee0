"""Change sets without a server: the pure decisions (parameters, TemplateURL, changes, the S3
artifacts a packaged template names), and the write operations and the engine over a real
store with a fake :class:`Deployer` (the SAM CLI end-to-end test drives the real one)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.parsers import create_parser

from lamina.errors import AwsServiceError
from lamina.services.cloudformation import changesets as cs_model
from lamina.services.cloudformation.artifacts import Artifact, localise
from lamina.services.cloudformation.engine import INTERRUPTED, DeploymentFailed, StackEngine
from lamina.services.cloudformation.handler import CloudFormationHandler
from lamina.services.cloudformation.model import StackValidationError, parse_record
from lamina.services.cloudformation.store import StackStore
from lamina.services.cloudformation.writes import StackWrites
from lamina.wire.http import Request
from lamina.wire.server import Response

HOSTS = frozenset({"127.0.0.1:9000"})


def template(code: str = "s3://b/abc", **extra: Any) -> dict[str, Any]:
    fn = {"Type": "AWS::Serverless::Function", "Properties": {"CodeUri": code, **extra}}
    return {"Resources": {"Fn": fn}}


# -- pure ---------------------------------------------------------------------------------
def test_parse_create_reads_the_query_members() -> None:
    req = cs_model.parse_create(
        {
            "StackName": "app",
            "ChangeSetName": "cs-1",
            "ChangeSetType": "CREATE",
            "TemplateBody": "{}",
            "Parameters.member.1.ParameterKey": "Stage",
            "Parameters.member.1.ParameterValue": "dev",
            "Parameters.member.2.ParameterKey": "Old",
            "Parameters.member.2.UsePreviousValue": "true",
            "Capabilities.member.1": "CAPABILITY_IAM",
            "Tags.member.1.Key": "team",
            "Tags.member.1.Value": "a",
        }
    )
    assert (req.parameters, req.previous) == ({"Stage": "dev"}, ("Old",))
    assert (req.capabilities, req.tags) == (("CAPABILITY_IAM",), {"team": "a"})
    # An empty list comes as ``Parameters=`` (the SAM CLI sends that).
    empty = cs_model.parse_create(
        {"StackName": "app", "ChangeSetName": "c", "TemplateBody": "{}", "Parameters": ""}
    )
    assert empty.parameters == {} and empty.type == "UPDATE"
    base = {"StackName": "app", "ChangeSetName": "c"}
    with pytest.raises(StackValidationError, match="exactly one"):
        cs_model.parse_create(base)
    with pytest.raises(StackValidationError, match="51200"):
        cs_model.parse_create({**base, "TemplateBody": "x" * 51_201})
    with pytest.raises(StackValidationError, match="changeSetName"):
        cs_model.parse_create({**base, "ChangeSetName": "1bad", "TemplateBody": "{}"})
    with pytest.raises(StackValidationError, match="IMPORT"):
        cs_model.parse_create({**base, "TemplateBody": "{}", "ChangeSetType": "IMPORT"})
    with pytest.raises(StackValidationError, match="Capabilities"):
        cs_model.parse_create({**base, "TemplateBody": "{}", "Capabilities.member.1": "ROOT"})


def test_a_template_url_must_name_lamina_s3() -> None:
    url = "http://127.0.0.1:9000/deploys/d655e0.template"
    assert cs_model.template_location(url, HOSTS) == ("deploys", "d655e0.template")
    for foreign in (
        "https://s3.amazonaws.com/deploys/t.yaml",
        "http://127.0.0.1:9001/deploys/t.yaml",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data",
    ):
        with pytest.raises(StackValidationError, match="Lamina's own S3"):
            cs_model.template_location(foreign, HOSTS)
    with pytest.raises(StackValidationError, match="bucket and a key"):
        cs_model.template_location("http://127.0.0.1:9000/deploys", HOSTS)


def test_changes_compare_the_templates_resources() -> None:
    before = {"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"A": 1}},
                            "Q": {"Type": "AWS::SQS::Queue"}}}  # fmt: skip
    after = {"Resources": {"Fn": {"Type": "AWS::Serverless::Function", "Properties": {"A": 2}},
                           "T": {"Type": "AWS::SNS::Topic"}}}  # fmt: skip
    types = {"AWS::Serverless::Function": "AWS::Lambda::Function"}
    found = cs_model.changes(before, after, False, {"Fn": "app-Fn", "Q": "http://q"}, types)
    rows = [
        (c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"],
         c["ResourceChange"]["ResourceType"], c["ResourceChange"]["PhysicalResourceId"])
        for c in found
    ]  # fmt: skip
    assert rows == [
        ("Modify", "Fn", "AWS::Lambda::Function", "app-Fn"),
        ("Add", "T", "AWS::SNS::Topic", None),
        ("Remove", "Q", "AWS::SQS::Queue", "http://q"),
    ]
    # A new parameter value may change any resource.
    same = cs_model.changes(before, before, True, {}, types)
    assert [c["ResourceChange"]["Action"] for c in same] == ["Modify", "Modify"]
    assert cs_model.no_changes(before, json.loads(json.dumps(before)), False, False)
    assert not cs_model.no_changes(before, before, True, False)
    assert not cs_model.no_changes(before, before, False, True)
    assert not cs_model.no_changes(None, before, False, False)


def test_capabilities_are_required_as_cloudformation_requires_them() -> None:
    with_role = template(Role="arn:aws:iam::000000000000:role/r")
    assert cs_model.missing_capability(with_role, ()) == ""
    assert cs_model.missing_capability(template(), ()) == "Requires capabilities : [CAPABILITY_IAM]"
    assert cs_model.missing_capability(template(), ("CAPABILITY_IAM",)) == ""
    assert cs_model.missing_capability(template(), ("CAPABILITY_NAMED_IAM",)) == ""
    named = {"Resources": {"R": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "x"}}}}
    assert cs_model.missing_capability(named, ("CAPABILITY_IAM",)) == (
        "Requires capabilities : [CAPABILITY_NAMED_IAM]"
    )
    global_role = {**template(), "Globals": {"Function": {"Role": "arn:aws:iam::0:role/r"}}}
    assert cs_model.missing_capability(global_role, ()) == ""


def test_localise_points_s3_code_at_downloaded_files() -> None:
    doc: dict[str, Any] = {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "s3://b/k1"},
                "Metadata": {"BuildMethod": "makefile", "SamResourceId": "Fn"},
            },
            "Raw": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"S3Bucket": "b", "S3Key": "k2"}}},
            "Layer": {"Type": "AWS::Serverless::LayerVersion", "Properties": {"ContentUri": {"Bucket": "b", "Key": "k3"}}},
            "Inline": {"Type": "AWS::Lambda::Function", "Properties": {"Code": {"ZipFile": "x"}}},
        }
    }  # fmt: skip
    out, wanted = localise(doc)
    resources: dict[str, Any] = out["Resources"]
    assert wanted == [Artifact("b", "k1"), Artifact("b", "k2"), Artifact("b", "k3")]
    assert resources["Fn"]["Properties"]["CodeUri"] == Artifact("b", "k1").local
    assert resources["Fn"]["Metadata"] == {"SamResourceId": "Fn"}  # already built
    assert resources["Raw"]["Properties"]["Code"] == Artifact("b", "k2").local
    assert resources["Layer"]["Properties"]["ContentUri"].endswith(".zip")
    assert resources["Inline"]["Properties"]["Code"] == {"ZipFile": "x"}
    assert doc["Resources"]["Fn"]["Properties"]["CodeUri"] == "s3://b/k1"  # a copy
    with pytest.raises(StackValidationError, match="is a local path: package the template"):
        localise(template("hello/"))
    with pytest.raises(StackValidationError, match="not an S3 URI"):
        localise(template("s3://bucket-only"))


# -- over a store, with a fake deployer ----------------------------------------------------
class FakeDeployer:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.fail_deploy = ""
        self.deployed: list[tuple[str, dict[str, str]]] = []
        self.removed: list[str] = []

    def read_object(self, bucket: str, key: str, limit: int) -> bytes:
        try:
            return self.objects[(bucket, key)]
        except KeyError:
            raise DeploymentFailed(f"cannot read s3://{bucket}/{key}: NoSuchKey") from None

    def parse(self, text: str) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(text)
        return found

    def download(self, bucket: str, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.read_object(bucket, key, 1 << 20))

    def stage(self, workdir: Path, stack: str, parameters: dict[str, str]) -> None:
        doc = json.loads((workdir / "template.json").read_text())
        if "Broken" in doc["Resources"]:
            raise DeploymentFailed("Template error: Broken: Runtime is required")

    def deploy(
        self, workdir: Path, stack: str, parameters: dict[str, str], state: Path
    ) -> dict[str, Any]:
        if self.fail_deploy:
            raise DeploymentFailed(self.fail_deploy)
        self.deployed.append((stack, parameters))
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text("{}")
        doc = json.loads((workdir / "template.json").read_text())
        return {
            "StackId": "ignored",
            "Resources": [
                {
                    "LogicalResourceId": lid,
                    "PhysicalResourceId": f"{stack}-{lid}",
                    "ResourceType": body["Type"],
                }
                for lid, body in doc["Resources"].items()
            ],
            "Parameters": parameters,
            "Failure": "",
        }

    def remove(self, stack: str, state: Path) -> str:
        self.removed.append(stack)
        return ""


class Immediate:
    """Runs a job at once (the engine's thread, made synchronous for the test)."""

    def __init__(self, engine: StackEngine) -> None:
        self.engine = engine

    def submit(self, job: Any) -> Any:
        from concurrent.futures import Future

        done: Future[Any] = Future()
        done.set_result(job())
        return done


@pytest.fixture
def fake() -> FakeDeployer:
    fake = FakeDeployer()
    fake.objects[("b", "code1")] = b"zip-1"
    fake.objects[("b", "code2")] = b"zip-2"
    return fake


def _writes(tmp_path: Path, fake: FakeDeployer) -> tuple[StackWrites, StackStore, StackEngine]:
    store = StackStore(tmp_path / "stacks.db")
    engine = StackEngine(store, tmp_path / "cloudformation", fake)
    engine.submit = Immediate(engine).submit  # type: ignore[method-assign]
    writes = StackWrites(store, engine, "us-east-1", "000000000000", lambda: HOSTS)
    return writes, store, engine


def _create(writes: StackWrites, name: str, kind: str, body: dict[str, Any], **more: str) -> Any:
    params = {"StackName": "app", "ChangeSetName": name, "ChangeSetType": kind,
              "TemplateBody": json.dumps(body), "Capabilities.member.1": "CAPABILITY_IAM",
              **more}  # fmt: skip
    return writes.create_change_set(params)


def test_create_execute_update_no_change_and_delete(tmp_path: Path, fake: FakeDeployer) -> None:
    writes, store, engine = _writes(tmp_path, fake)
    made = _create(writes, "one", "CREATE", template("s3://b/code1"))
    cs = writes.describe_change_set({"ChangeSetName": made["Id"]})
    assert (cs["Status"], cs["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert [c["ResourceChange"]["Action"] for c in cs["Changes"]] == ["Add"]
    stack = store.find("app")
    assert stack is not None and stack.status == "REVIEW_IN_PROGRESS"
    writes.execute_change_set({"ChangeSetName": "one", "StackName": "app"})
    stack = store.find("app")
    assert stack is not None and stack.status == "CREATE_COMPLETE"
    assert [r.physical_id for r in store.resources(stack)] == ["app-Fn"]
    events = [(e.logical_id, e.status) for e in store.events(stack)][::-1]
    assert events == [
        ("app", "REVIEW_IN_PROGRESS"),
        ("app", "CREATE_IN_PROGRESS"),
        ("Fn", "CREATE_COMPLETE"),
        ("app", "CREATE_COMPLETE"),
    ]
    assert store.change_sets(stack.record.stack_id) == []  # executed: all spent

    # The same template again: FAILED with the words the SAM CLI looks for.
    _create(writes, "two", "UPDATE", template("s3://b/code1"))
    same = writes.describe_change_set({"ChangeSetName": "two", "StackName": "app"})
    assert (same["Status"], same["StatusReason"]) == ("FAILED", cs_model.NO_CHANGES)
    # A NoEcho parameter's value is described as ****.
    secret = {**template("s3://b/code1"), "Parameters": {"Key": {"Type": "String", "NoEcho": True}}}
    _create(writes, "secret", "UPDATE", secret, **{"Parameters.member.1.ParameterKey": "Key",
            "Parameters.member.1.ParameterValue": "hunter2"})  # fmt: skip
    described = writes.describe_change_set({"ChangeSetName": "secret", "StackName": "app"})
    assert described["Parameters"] == [{"ParameterKey": "Key", "ParameterValue": "****"}]
    writes.delete_change_set({"ChangeSetName": "secret", "StackName": "app"})
    # New code (a new key): Modify, then UPDATE_COMPLETE.
    _create(writes, "three", "UPDATE", template("s3://b/code2"))
    changed = writes.describe_change_set({"ChangeSetName": "three", "StackName": "app"})
    assert [c["ResourceChange"]["Action"] for c in changed["Changes"]] == ["Modify"]
    listed = writes.list_change_sets({"StackName": "app"})["Summaries"]
    assert [s["ChangeSetName"] for s in listed] == ["two", "three"]
    writes.execute_change_set({"ChangeSetName": "three", "StackName": "app"})
    stack = store.find("app")
    assert stack is not None and stack.status == "UPDATE_COMPLETE"
    # By its StackId, as Terraform updates it.
    by_id = {**template("s3://b/code1"), "Description": "by id"}
    made = _create(writes, "four", "UPDATE", by_id, StackName=stack.record.stack_id)
    assert made["StackId"] == stack.record.stack_id
    with pytest.raises(StackValidationError, match="stackName"):
        _create(writes, "five", "CREATE", template(), StackName="not_a_name")

    writes.delete_stack({"StackName": "app"})
    assert store.find("app") is None
    assert fake.removed == ["app"]
    assert not engine.stack_dir("app").exists()


def test_failures_are_visible_with_their_reasons(tmp_path: Path, fake: FakeDeployer) -> None:
    writes, store, _ = _writes(tmp_path, fake)
    broken = {"Resources": {"Broken": {"Type": "AWS::Serverless::Function"}}}
    _create(writes, "bad", "CREATE", broken)
    cs = writes.describe_change_set({"ChangeSetName": "bad", "StackName": "app"})
    assert (cs["Status"], cs["StatusReason"]) == (
        "FAILED",
        "Template error: Broken: Runtime is required",
    )
    with pytest.raises(AwsServiceError) as refused:
        writes.execute_change_set({"ChangeSetName": "bad", "StackName": "app"})
    assert refused.value.code == "InvalidChangeSetStatus"
    _create(writes, "gone", "CREATE", template("s3://b/missing"))
    gone = writes.describe_change_set({"ChangeSetName": "gone", "StackName": "app"})
    assert "NoSuchKey" in gone["StatusReason"]

    _create(writes, "good", "CREATE", template("s3://b/code1"))
    fake.fail_deploy = "cannot publish layers"
    writes.execute_change_set({"ChangeSetName": "good", "StackName": "app"})
    stack = store.find("app")
    assert stack is not None and stack.status == "CREATE_FAILED"
    assert store.events(stack)[0].reason == "cannot publish layers"
    with pytest.raises(StackValidationError, match="does not exist"):
        _create(writes, "upd", "UPDATE", template(), StackName="nope")
    with pytest.raises(AwsServiceError) as missing:
        writes.describe_change_set({"ChangeSetName": "nope", "StackName": "app"})
    assert missing.value.code == "ChangeSetNotFound"


def test_lamina_up_stacks_are_left_to_lamina_up(tmp_path: Path, fake: FakeDeployer) -> None:
    writes, store, _ = _writes(tmp_path, fake)
    up_record = {"StackId": "arn:aws:cloudformation:us-east-1:000000000000:stack/app/x",
                 "TemplateBody": "{}"}  # fmt: skip
    store.record(parse_record("app", up_record), 1.0)
    with pytest.raises(StackValidationError, match="lamina down"):
        _create(writes, "one", "UPDATE", template())
    with pytest.raises(StackValidationError, match="lamina down"):
        writes.delete_stack({"StackName": "app"})


def test_a_restart_fails_what_was_under_way(tmp_path: Path, fake: FakeDeployer) -> None:
    writes, store, engine = _writes(tmp_path, fake)
    _create(writes, "one", "CREATE", template("s3://b/code1"))
    cs = store.change_set("one", store.find("app").record.stack_id)  # type: ignore[union-attr]
    assert cs is not None
    # As if the server died while executing it.
    store.put_change_set(replace(cs, execution_status=cs_model.EXECUTE_IN_PROGRESS))
    store.set_status(cs.stack_id, "CREATE_IN_PROGRESS", 2.0)
    engine.close()
    StackEngine(store, tmp_path / "cloudformation", fake)  # a new server start
    stack = store.find("app")
    assert stack is not None and stack.status == "CREATE_FAILED"
    assert store.events(stack)[0].reason == INTERRUPTED
    after = store.change_set(cs.id, None)
    assert after is not None and after.execution_status == cs_model.EXECUTE_FAILED


def test_the_limit_on_change_sets_per_stack(
    tmp_path: Path, fake: FakeDeployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes, _, _ = _writes(tmp_path, fake)
    monkeypatch.setattr(cs_model, "MAX_CHANGE_SETS", 2)
    _create(writes, "a", "CREATE", template("s3://b/code1"))
    _create(writes, "b", "CREATE", template("s3://b/code1"))
    with pytest.raises(AwsServiceError) as limited:
        _create(writes, "c", "CREATE", template("s3://b/code1"))
    assert limited.value.code == "LimitExceededException"
    with pytest.raises(AwsServiceError) as again:
        _create(writes, "a", "CREATE", template("s3://b/missing"))
    assert again.value.code == "AlreadyExistsException"


def test_failed_change_sets_make_room(
    tmp_path: Path, fake: FakeDeployer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each "No changes to deploy" leaves a FAILED change set; they never block a deploy."""
    writes, _, _ = _writes(tmp_path, fake)
    monkeypatch.setattr(cs_model, "MAX_CHANGE_SETS", 2)
    _create(writes, "first", "CREATE", template("s3://b/code1"))
    writes.execute_change_set({"ChangeSetName": "first", "StackName": "app"})
    for n in range(4):
        _create(writes, f"same-{n}", "UPDATE", template("s3://b/code1"))
    rows = writes.list_change_sets({"StackName": "app"})["Summaries"]
    assert [(r["ChangeSetName"], r["Status"]) for r in rows] == [
        ("same-2", "FAILED"),
        ("same-3", "FAILED"),
    ]


def _request(body: str, auth: str = "") -> Request:
    headers = {"content-type": "application/x-www-form-urlencoded", "host": "127.0.0.1:9000"}
    if auth:
        headers["authorization"] = auth
    return Request("POST", "/", headers, body.encode())


def test_the_answers_are_what_botocore_parses(tmp_path: Path, fake: FakeDeployer) -> None:
    writes, _, _ = _writes(tmp_path, fake)
    handler = CloudFormationHandler(writes.store, writes=writes)
    model = botocore.session.get_session().get_service_model("cloudformation")

    def answer(body: str, auth: str = "") -> Response:
        out = handler.answer(_request(body, auth))
        return out if isinstance(out, Response) else asyncio.run(out)

    def parsed(action: str, body: str) -> Any:
        got = answer(f"Action={action}&Version=2010-05-15&{body}")
        assert got.status == 200, got.body
        return create_parser("query").parse(
            {"body": got.body, "headers": got.headers, "status_code": got.status},
            model.operation_model(action).output_shape,
        )

    fake.objects[("deploys", "t.template")] = json.dumps(template("s3://b/code1")).encode()
    url = "http%3A%2F%2F127.0.0.1%3A9000%2Fdeploys%2Ft.template"
    parsed(
        "CreateChangeSet",
        "StackName=app&ChangeSetName=one&ChangeSetType=CREATE"
        f"&Capabilities.member.1=CAPABILITY_IAM&TemplateURL={url}",
    )
    described = parsed("DescribeChangeSet", "StackName=app&ChangeSetName=one")
    assert described["Status"] == "CREATE_COMPLETE"
    assert described["Changes"][0]["ResourceChange"]["Action"] == "Add"
    role = "AWS4-HMAC-SHA256 Credential=ASIAXYZ/20260101/us-east-1/cloudformation/aws4_request"
    execute = "Action=ExecuteChangeSet&Version=2010-05-15&StackName=app&ChangeSetName=one"
    denied = answer(execute, role)
    assert denied.status == 403 and b"AccessDenied" in denied.body
    # An empty ExecuteChangeSetResult element still comes (botocore requires it).
    assert set(parsed("ExecuteChangeSet", "StackName=app&ChangeSetName=one")) == {
        "ResponseMetadata"
    }
    stacks = parsed("DescribeStacks", "StackName=app")["Stacks"]
    assert stacks[0]["StackStatus"] == "CREATE_COMPLETE"
