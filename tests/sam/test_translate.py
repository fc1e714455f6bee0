"""Templates → specs: Lamina's examples and public SAM templates (tests/sam/fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lamina.sam.errors import TemplateError
from lamina.sam.model import StackSpec
from lamina.sam.template import load_template
from lamina.sam.translate import Translation, translate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "sam"
FIXTURES = Path(__file__).parent / "fixtures"


def load(path: Path, stack: str = "app", **overrides: str) -> tuple[StackSpec, Translation]:
    return translate(
        load_template(path),
        stack=stack,
        region="us-east-1",
        account="000000000000",
        endpoint_host="127.0.0.1:9000",
        overrides=overrides,
    )


def copy_fixture(name: str, tmp: Path, code_dirs: tuple[str, ...] = ("src",)) -> Path:
    """A fixture template in a project directory with the code folders it names."""
    project = tmp / Path(name).name
    shutil.copytree(FIXTURES / name, project)
    for d in code_dirs:
        (project / d).mkdir(exist_ok=True)
        (project / d / "app.js").write_text("exports.handler = async () => 'ok';\n")
    return project / "template.yaml"


def skipped(spec: StackSpec) -> dict[str, str]:
    return {s.what: s.reason for s in spec.skipped}


def test_http_api_example() -> None:
    spec, t = load(EXAMPLES / "http-api" / "template.yaml", "items")
    items, health = spec.functions["ItemsFunction"], spec.functions["HealthFunction"]
    assert (items.name, items.runtime, items.memory_mb, items.timeout_s) == (
        "items-ItemsFunction",
        "python3.12",
        256,
        10,
    )
    assert items.environment == {"STAGE": "dev", "GREETING": "hello"}  # Globals merged
    assert items.description == "Items API (dev) of items"
    assert health.memory_mb == 128 and health.url is not None and health.url.auth_type == "NONE"
    assert sorted((r.method, r.path, r.payload_version) for r in spec.routes) == [
        ("GET", "/items", "2.0"),
        ("GET", "/items/{id}", "2.0"),
        ("POST", "/items", "2.0"),
    ]
    assert skipped(spec) == {}  # Policies make the function's role (lamina.sam.policies)
    assert health.own_role is not None
    assert health.role_arn == "arn:aws:iam::000000000000:role/items-HealthFunctionRole"
    assert health.own_role.managed == (
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    )
    t.catalog.urls["HealthFunction"] = "http://127.0.0.1:9000/lambda-url/abc/"
    assert t.outputs()["HealthUrl"] == "http://127.0.0.1:9000/lambda-url/abc/"


def test_parameter_overrides_and_conditions() -> None:
    spec, _ = load(EXAMPLES / "http-api" / "template.yaml", "items", Stage="prod")
    assert spec.functions["ItemsFunction"].memory_mb == 512
    with pytest.raises(TemplateError, match="AllowedValues"):
        load(EXAMPLES / "http-api" / "template.yaml", Stage="qa")


def test_queue_worker_example() -> None:
    spec, t = load(EXAMPLES / "queue-worker" / "template.yaml", "orders", BatchSize="5")
    queue = spec.queues["OrdersQueue"]
    assert queue.attributes["VisibilityTimeout"] == "60"
    assert (
        '"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:orders-OrdersDeadLetterQueue"'
        in (queue.attributes["RedrivePolicy"])
    )
    worker = spec.functions["OrderWorker"]
    assert (worker.runtime, worker.alias, worker.reserved_concurrency) == ("nodejs22.x", "live", 5)
    assert worker.environment["ORDERS_QUEUE_URL"] == (
        "http://127.0.0.1:9000/000000000000/orders-OrdersQueue"
    )
    (mapping,) = spec.mappings
    assert (mapping.batch_size, mapping.qualifier, mapping.report_batch_item_failures) == (
        5,
        "live",
        True,
    )
    (route,) = spec.routes
    assert (route.api, route.method, route.path, route.payload_version) == (
        "ServerlessRestApi",
        "POST",
        "/orders",
        "1.0",
    )
    assert t.outputs()["WorkerAlias"].endswith(":function:orders-OrderWorker:live")


def test_scheduled_job_example() -> None:
    spec, _ = load(EXAMPLES / "scheduled-job" / "template.yaml", "jobs")
    fn = spec.functions["ReportFunction"]
    assert fn.runtime == "provided.al2023" and fn.code.build_method == "rust-cargolambda"
    assert fn.invoke_config is not None
    assert (fn.invoke_config.maximum_retry_attempts, fn.invoke_config.on_failure) == (
        1,
        "arn:aws:sqs:us-east-1:000000000000:jobs-JobFailuresQueue",
    )
    assert {(r.name, r.schedule, r.targets[0].input) for r in spec.rules} == {
        ("jobs-ReportFunction-EveryMinute", "rate(1 minute)", '{"job": "heartbeat"}'),
    }
    # ScheduleV2 is EventBridge Scheduler's, with its flexible window and retry policy.
    (nightly,) = spec.schedules
    assert (nightly.name, nightly.expression, nightly.input) == (
        "jobs-ReportFunction-Nightly",
        "cron(0 3 * * ? *)",
        '{"job": "nightly-report"}',
    )
    assert (nightly.window_minutes, nightly.max_retries, nightly.max_age_s) == (15, 2, 3600)
    assert nightly.target_arn.endswith(":function:jobs-ReportFunction")


def test_thumbnailer_example() -> None:
    spec, _ = load(EXAMPLES / "thumbnailer" / "template.yaml", "thumbs")
    uploads, thumbs = spec.buckets["UploadsBucket"], spec.buckets["ThumbnailsBucket"]
    assert (uploads.name, thumbs.name) == ("thumbs-uploadsbucket", "thumbs-thumbnails")
    assert {(n.prefix, n.suffix, n.events) for n in uploads.notifications} == {
        ("photos/", ".png", ("s3:ObjectCreated:*",)),
        ("", ".jpg", ("s3:ObjectCreated:Put", "s3:ObjectCreated:CompleteMultipartUpload")),
    }
    fn = spec.functions["ThumbnailFunction"]
    assert fn.environment == {"THUMBNAIL_BUCKET": "thumbs-thumbnails", "THUMBNAIL_SIZE": "128"}
    assert fn.ephemeral_mb == 1024
    assert "ThumbnailsBucket.VersioningConfiguration" in skipped(spec)


def test_serverless_patterns_sqs_lambda(tmp_path: Path) -> None:
    spec, t = load(copy_fixture("serverless-patterns/sqs-lambda", tmp_path))
    fn = spec.functions["QueueConsumerFunction"]
    # nodejs24.x is deployed as the newest Node runtime Lamina has
    assert fn.runtime == "nodejs22.x"
    assert any("nodejs24.x is deployed as nodejs22.x" in w for w in spec.warnings)
    (mapping,) = spec.mappings
    assert mapping.queue_arn == "arn:aws:sqs:us-east-1:000000000000:app-MySqsQueue"
    outputs = t.outputs()
    assert outputs["SQSqueueURL"] == "http://127.0.0.1:9000/000000000000/app-MySqsQueue"
    assert outputs["QueueConsumerFunction"] == "app-QueueConsumerFunction"


def test_serverless_patterns_s3_lambda_and_function_url(tmp_path: Path) -> None:
    spec, _ = load(copy_fixture("serverless-patterns/s3-lambda", tmp_path))
    (note,) = spec.buckets["SrcBucket"].notifications
    assert note.target_arn.endswith(":function:app-CreateThumbnail")
    assert spec.functions["CreateThumbnail"].runtime == "nodejs20.x"  # from nodejs12.x
    spec, _ = load(FIXTURES / "serverless-patterns" / "lambda-function-url" / "template.yaml")
    url = spec.functions["FURLFunction"].url
    assert url is not None and (url.auth_type, url.cors) == ("AWS_IAM", {"AllowOrigins": ["*"]})


def test_inline_code_and_a_catch_all_http_api() -> None:
    spec, t = load(
        FIXTURES / "serverless-patterns" / "apigw-http-api-lambda-python" / "template.yaml"
    )
    fn = spec.functions["ApiFunction"]
    assert fn.code.kind == "inline" and fn.runtime == "python3.13"
    (route,) = spec.routes
    assert (route.method, route.path) == ("ANY", "$default")
    assert len(t.outputs()["HttpApiEndpoint"]) == 10


def test_sam_examples_list_what_lamina_does_not_run(tmp_path: Path) -> None:
    spec, t = load(copy_fixture("sam-examples/api_backend", tmp_path))
    assert sorted(spec.functions) == ["DeleteFunction", "GetFunction", "PutFunction"]
    # DynamoDBCrudPolicy names the table's ARN (Lamina has no DynamoDB: it grants nothing here).
    crud = spec.functions["PutFunction"].own_role
    assert crud is not None
    (document,) = crud.inline.values()
    assert "table/app-Table" in str(document)
    assert skipped(spec)["Table (AWS::Serverless::SimpleTable)"] == "Lamina does not run this type"
    assert spec.functions["GetFunction"].environment == {"TABLE_NAME": "app-Table"}
    assert any("Lamina does not create this resource" in w for w in spec.warnings)
    assert t.outputs()["ApiURL"].startswith("https://")
    assert not any("stand-in" in str(v) for v in t.outputs().values())


def test_a_malformed_public_template_is_reported_not_fatal(tmp_path: Path) -> None:
    spec, _ = load(copy_fixture("sam-examples/hello_world_layers", tmp_path))
    reasons = skipped(spec)
    assert reasons["AWS::Serverless::LayerVersion"] == "a resource needs a Type"
    assert "misplaced" in reasons["HelloWorldFunction.Layers"]
    assert spec.functions["HelloWorldFunction"].runtime == "nodejs20.x"


def test_code_that_is_missing_or_in_s3_skips_the_function(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(FIXTURES / "sam-examples" / "sqs", project)
    spec, _ = load(project / "template.yaml")
    assert "does not exist" in skipped(spec)["MySQSQueueFunction (AWS::Serverless::Function)"]
    (project / "index.js").write_text("exports.handler = async () => 1;\n")
    spec, _ = load(project / "template.yaml")
    fn = spec.functions["MySQSQueueFunction"]
    assert fn.code.path == project / "index.js"
    (mapping,) = spec.mappings  # Queue: !Ref MyQueue (a URL) is accepted as well as an ARN
    assert mapping.queue_arn.endswith(":app-MyQueue")


def test_schedule_and_s3_processor_default_the_code_to_the_template_directory() -> None:
    spec, _ = load(FIXTURES / "sam-examples" / "schedule" / "template.yaml")
    fn = spec.functions["ScheduledFunction"]
    assert fn.code.path == FIXTURES / "sam-examples" / "schedule"
    assert [r.schedule for r in spec.rules] == ["rate(5 minutes)"]
    spec, _ = load(FIXTURES / "sam-examples" / "s3_processor" / "template.yaml")
    assert len(spec.buckets["Bucket"].notifications) == 1


def test_sam_cli_hello_templates(tmp_path: Path) -> None:
    spec, t = load(
        copy_fixture("sam-cli-app-templates/python3.12-hello", tmp_path, ("hello_world",))
    )
    fn = spec.functions["HelloWorldFunction"]
    assert (fn.runtime, fn.handler, fn.timeout_s) == ("python3.12", "app.lambda_handler", 3)
    outputs = t.outputs()
    assert (
        outputs["HelloWorldFunctionIamRole"]
        == "arn:aws:iam::000000000000:role/app-HelloWorldFunctionRole"
    )
    spec, _ = load(copy_fixture("sam-cli-app-templates/al2023-rust-hello", tmp_path, ("rust_app",)))
    rust = spec.functions["HelloWorldFunction"]
    assert (rust.runtime, rust.handler, rust.code.build_method) == (
        "provided.al2023",
        "bootstrap",
        "rust-cargolambda",
    )


def test_unsupported_runtimes_and_event_types_are_listed(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    (tmp_path / "src").mkdir()
    template.write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Java:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: src/, Handler: a::b, Runtime: java21}
  Py:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      VpcConfig: {SubnetIds: [a]}
      Events:
        Topic: {Type: SNS, Properties: {Topic: arn:aws:sns:us-east-1:1:t}}
        Stream: {Type: Kinesis, Properties: {Stream: x}}
  Fifo:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true}
  Topic:
    Type: AWS::SNS::Topic
  Role:
    Type: AWS::IAM::Role
"""
    )
    spec, _ = load(template)
    reasons = skipped(spec)
    assert "java21" in reasons["Java (AWS::Serverless::Function)"]
    assert reasons["Py.VpcConfig"].startswith("no VPCs")
    assert "Py.Events.Topic (SNS)" not in reasons  # SNS events are subscriptions
    (subscription,) = spec.subscriptions
    assert (subscription.key, subscription.topic_arn, subscription.protocol) == (
        "Py.Topic",
        "arn:aws:sns:us-east-1:1:t",
        "lambda",
    )
    assert subscription.endpoint == (
        f"arn:aws:lambda:us-east-1:000000000000:function:{spec.functions['Py'].name}"
    )
    assert reasons["Py.Events.Stream (Kinesis)"] == "no Kinesis streams"
    assert "Fifo (AWS::SQS::Queue)" not in reasons  # FIFO queues are served
    assert spec.queues["Fifo"].attributes["FifoQueue"] == "true"
    assert spec.queues["Fifo"].name.endswith(".fifo")
    assert "Topic (AWS::SNS::Topic)" not in reasons  # topics are made
    assert list(spec.topics) == ["Topic"]
    assert next(s for s in spec.skipped if s.what == "Role (AWS::IAM::Role)").ignored
    assert list(spec.functions) == ["Py"]


def test_build_methods_lamina_does_not_run_are_noted(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    template = tmp_path / "template.yaml"
    template.write_text(
        """
Transform: AWS::Serverless-2016-10-31
Resources:
  Ts:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: esbuild}
    Properties: {CodeUri: src/, Handler: app.handler, Runtime: nodejs22.x}
"""
    )
    spec, _ = load(template)
    assert spec.functions["Ts"].code.build_method == "esbuild"
    assert any("BuildMethod esbuild is not run" in w for w in spec.warnings)


DLQ_AND_OTHERS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Failed:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return e"
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt Failed.Arn
  Plain:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Code: {ZipFile: "def handler(e, c): return e"}
      DeadLetterConfig: {TargetArn: !GetAtt Failed.Arn}
  ToTopic:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return e"
      DeadLetterQueue: {Type: SNS, TargetArn: !Ref Topic}
  Topic:
    Type: AWS::SNS::Topic
  Table:
    Type: AWS::DynamoDB::Table
Outputs:
  TableArn: {Value: !GetAtt Table.Arn}
  TopicArn: {Value: !Ref Topic}
  TableName: {Value: !Ref Table}
"""


def test_dead_letter_queues_become_dead_letter_configs(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(DLQ_AND_OTHERS)
    spec, _ = load(template)
    failed = "arn:aws:sqs:us-east-1:000000000000:app-Failed"
    assert spec.functions["Worker"].dead_letter_arn == failed
    assert spec.functions["Worker"].configuration()["DeadLetterConfig"] == {"TargetArn": failed}
    assert spec.functions["Plain"].dead_letter_arn == failed
    topic = "arn:aws:sns:us-east-1:000000000000:app-Topic"
    assert spec.functions["ToTopic"].dead_letter_arn == topic  # a dead-letter topic
    assert not [what for what in skipped(spec) if what.startswith(("Worker", "Plain", "ToTopic"))]


BUS_DESTINATIONS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return e"
      Handler: index.handler
      Runtime: python3.12
      EventInvokeConfig:
        DestinationConfig:
          OnSuccess:
            Type: EventBridge
            Destination: !Sub arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/default
          OnFailure: {Type: SNS, Destination: arn:aws:sns:us-east-1:000000000000:t}
"""


def test_event_bus_and_topic_destinations_are_kept(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(BUS_DESTINATIONS)
    spec, _ = load(template)
    config = spec.functions["Fn"].invoke_config
    assert config is not None
    assert config.on_success == "arn:aws:events:us-east-1:000000000000:event-bus/default"
    assert config.on_failure == "arn:aws:sns:us-east-1:000000000000:t"
    assert "Fn.EventInvokeConfig.DestinationConfig.OnFailure" not in skipped(spec)


def test_resources_lamina_does_not_create_read_as_on_aws_in_outputs(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(DLQ_AND_OTHERS)
    _, t = load(template)
    assert t.outputs() == {
        "TableArn": "arn:aws:dynamodb:us-east-1:000000000000:table/app-Table",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:app-Topic",
        "TableName": "app-Table",
    }


SCHEDULE_AND_PUBLIC_LAYER = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Job:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - !Sub arn:aws:lambda:${AWS::Region}:175033217214:layer:graphicsmagick:2
        - arn:aws:lambda:us-east-1:000000000000:layer:shared:3
  Named:
    Type: AWS::Scheduler::Schedule
    Properties:
      Name: !Sub ${AWS::StackName}-schedule
      GroupName: reports
      ScheduleExpression: rate(5 minutes)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !GetAtt Job.Arn, RoleArn: arn:aws:iam::000000000000:role/r}
  Unnamed:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: rate(1 hour)
      FlexibleTimeWindow: {Mode: "OFF"}
      Target: {Arn: !GetAtt Job.Arn, RoleArn: arn:aws:iam::000000000000:role/r}
Outputs:
  ScheduleName: {Value: !Ref Named}
  ScheduleArn: {Value: !GetAtt Named.Arn}
  DefaultName: {Value: !Ref Unnamed}
  DefaultArn: {Value: !GetAtt Unnamed.Arn}
"""


def test_schedules_ref_their_name_and_getatt_their_arn(tmp_path: Path) -> None:
    """serverless-patterns' eventbridge-schedule-to-lambda-dlq-sam-python prints both."""
    template = tmp_path / "template.yaml"
    template.write_text(SCHEDULE_AND_PUBLIC_LAYER)
    (tmp_path / "src").mkdir()
    spec, t = load(template)
    assert sorted((s.group, s.name) for s in spec.schedules) == [
        ("default", "app-Unnamed"),
        ("reports", "app-schedule"),
    ]
    assert t.outputs() == {
        "ScheduleName": "app-schedule",
        "ScheduleArn": "arn:aws:scheduler:us-east-1:000000000000:schedule/reports/app-schedule",
        "DefaultName": "app-Unnamed",
        "DefaultArn": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/app-Unnamed",
    }


def test_a_layer_of_another_account_is_left_off_and_listed(tmp_path: Path) -> None:
    """A public layer (AWS's, a vendor's) cannot exist on Lamina: the function is deployed
    without it; a layer version in Lamina's own account is used as named."""
    template = tmp_path / "template.yaml"
    template.write_text(SCHEDULE_AND_PUBLIC_LAYER)
    (tmp_path / "src").mkdir()
    spec, _ = load(template)
    assert [layer.arn for layer in spec.functions["Job"].layers] == [
        "arn:aws:lambda:us-east-1:000000000000:layer:shared:3"
    ]
    reason = skipped(spec)[
        "Job.Layers arn:aws:lambda:us-east-1:175033217214:layer:graphicsmagick:2"
    ]
    assert "another account (175033217214)" in reason and "deployed without it" in reason


REST_API_WITH_SETTINGS = """\
Transform: AWS::Serverless-2016-10-31
Resources:
  Logs:
    Type: AWS::Logs::LogGroup
  MyApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: Prod
      EndpointConfiguration: REGIONAL
      TracingEnabled: true
      AccessLogSetting: {DestinationArn: !GetAtt Logs.Arn, Format: "$context.requestId"}
      Models:
        Vehicle: {type: object, required: [make]}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(event, context): return {}"
      Handler: index.handler
      Runtime: python3.12
      Events:
        Post:
          Type: Api
          Properties:
            RestApiId: !Ref MyApi
            Path: /vehicle
            Method: post
            RequestModel: {Model: Vehicle, Required: true, ValidateBody: true}
"""


def test_api_settings_lamina_does_not_apply_are_listed(tmp_path: Path) -> None:
    """serverless-patterns' apigw-cloudwatch and apigw-data-validation: nothing is dropped
    silently (access logs and request validation are not done; X-Ray means nothing here)."""
    template = tmp_path / "template.yaml"
    template.write_text(REST_API_WITH_SETTINGS)
    spec, _ = load(template)
    left_out = {s.what: (s.reason, s.ignored) for s in spec.skipped}
    assert left_out == {
        "MyApi.EndpointConfiguration": ("one local listener per API: no endpoint types", True),
        "MyApi.TracingEnabled": (
            "API stages record no X-Ray segments (functions do: Tracing: Active)",
            True,
        ),
        "MyApi.AccessLogSetting": (
            "API access logs are not written; function logs are kept",
            False,
        ),
        "MyApi.Models": ("request models are not validated", False),
        "Fn.Events.Post.RequestModel": ("requests are not validated", False),
    }
    assert [r.path for r in spec.routes] == ["/vehicle"]


POWERTOOLS_LAYER = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Layers:
      - !Sub arn:aws:lambda:${AWS::Region}:017000801446:layer:AWSLambdaPowertoolsPythonV2:48
Resources:
  One: {Type: AWS::Serverless::Function, Properties: {CodeUri: src, Handler: a.handler}}
  Two: {Type: AWS::Serverless::Function, Properties: {CodeUri: src, Handler: b.handler}}
"""


def test_the_public_powertools_layer_becomes_a_layer_built_from_its_package(
    tmp_path: Path,
) -> None:
    """Powertools' examples name its public layer: up rebuilds it once, for both functions,
    from the package of the major version the name says, for the functions' Python."""
    template = tmp_path / "template.yaml"
    template.write_text(POWERTOOLS_LAYER)
    (tmp_path / "src").mkdir()
    spec, _ = load(template)
    (layer,) = spec.layers.values()
    assert layer.name == "AWSLambdaPowertoolsPythonV2"
    assert layer.code.kind == "requirements" and layer.code.build_method == "python3.11"
    assert layer.code.inline == "aws-lambda-powertools[tracer]>=2,<3\n"
    assert [fn.layers for fn in spec.functions.values()] == [(layer,), (layer,)]
    assert not spec.skipped
    assert any("rebuilt as layer AWSLambdaPowertoolsPythonV2" in w for w in spec.warnings)


FIFO_CONSUMER = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
      DeduplicationScope: messageGroup
      FifoThroughputLimit: perMessageGroupId
      VisibilityTimeout: 60
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c): return e"
      Events:
        Orders:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: 10
            FunctionResponseTypes: [ReportBatchItemFailures]
Outputs:
  Url: {Value: !Ref Orders}
  Name: {Value: !GetAtt Orders.QueueName}
"""


def test_a_fifo_queue_and_its_event_source(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(FIFO_CONSUMER)
    spec, _ = load(template, stack="a-stack-name-long-enough-to-need-cutting-" + "x" * 40)
    queue = spec.queues["Orders"]
    assert queue.name.endswith(".fifo") and len(queue.name) <= 80
    assert queue.attributes == {
        "FifoQueue": "true",
        "ContentBasedDeduplication": "true",
        "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId",
        "VisibilityTimeout": "60",
    }
    [mapping] = spec.mappings
    assert mapping.queue_arn.endswith(":" + queue.name)
    assert not [what for what in skipped(spec) if what.startswith("Orders")]


LOGGING = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    CodeUri: src/
    LoggingConfig:
      LogFormat: JSON
      ApplicationLogLevel: INFO
Resources:
  Leveled:
    Type: AWS::Serverless::Function
    Properties:
      LoggingConfig:
        LogFormat: JSON
        ApplicationLogLevel: ERROR
        SystemLogLevel: WARN
  FromGlobals:
    Type: AWS::Serverless::Function
  Raw:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      Role: arn:aws:iam::000000000000:role/r
      Code: {ZipFile: "def handler(e, c): pass"}
      LoggingConfig: {LogFormat: JSON, SystemLogLevel: DEBUG}
"""


def test_logging_config_levels_pass_through_to_the_api(tmp_path: Path) -> None:
    """LoggingConfig with its levels, from the function, from Globals, and on a plain
    AWS::Lambda::Function, as UpdateFunctionConfiguration gets it."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(e, c):\n    pass\n")
    template = tmp_path / "template.yaml"
    template.write_text(LOGGING)
    spec, _ = load(template)
    assert spec.functions["Leveled"].configuration()["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "ERROR",
        "SystemLogLevel": "WARN",
    }
    assert spec.functions["FromGlobals"].configuration()["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
    }
    assert spec.functions["Raw"].configuration()["LoggingConfig"] == {
        "LogFormat": "JSON",
        "SystemLogLevel": "DEBUG",
    }


SNS_THROUGH_A_QUEUE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Topic:
    Type: AWS::SNS::Topic
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return e"
      Handler: index.handler
      Runtime: python3.12
      Events:
        Buffered:
          Type: SNS
          Properties:
            Topic: !Ref Topic
            FilterPolicy: {kind: [a]}
            SqsSubscription: {BatchSize: 5}
"""


def test_an_sns_event_with_sqs_subscription_goes_through_a_queue_of_its_own(
    tmp_path: Path,
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(SNS_THROUGH_A_QUEUE)
    spec, _ = load(template)
    queue = spec.queues["FnBufferedQueue"]
    queue_arn = f"arn:aws:sqs:us-east-1:000000000000:{queue.name}"
    (subscription,) = spec.subscriptions
    assert (subscription.protocol, subscription.endpoint) == ("sqs", queue_arn)
    assert subscription.topic_arn == "arn:aws:sns:us-east-1:000000000000:app-Topic"
    assert json.loads(subscription.attributes["FilterPolicy"]) == {"kind": ["a"]}
    (mapping,) = spec.mappings
    assert (mapping.queue_arn, mapping.function_name, mapping.batch_size) == (
        queue_arn,
        spec.functions["Fn"].name,
        5,
    )


TRACED = """
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Tracing: Active
Resources:
  Traced:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler, Runtime: python3.12}
  Plain:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler, Runtime: python3.12,
                 Tracing: PassThrough}
  Raw:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler, Runtime: python3.12,
                 TracingConfig: {Mode: Active}}
"""


def test_tracing_active_is_applied_from_globals_and_per_function(tmp_path: Path) -> None:
    """Powertools' templates set ``Tracing: Active`` in Globals: functions get X-Ray."""
    template = tmp_path / "template.yaml"
    template.write_text(TRACED)
    spec, _ = load(template)
    modes = {
        f.logical_id: f.configuration()["TracingConfig"]["Mode"] for f in spec.functions.values()
    }
    assert modes == {"Traced": "Active", "Plain": "PassThrough", "Raw": "Active"}
    assert not [s for s in spec.skipped if "Tracing" in s.what]
    template.write_text(TRACED.replace("Tracing: PassThrough", "Tracing: Sometimes"))
    spec, _ = load(template)
    assert "Plain" not in spec.functions
    assert "must be Active or PassThrough" in skipped(spec)["Plain (AWS::Serverless::Function)"]


LOOPING = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Looper:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler, Runtime: python3.12,
                 RecursiveLoop: Allow}
  Plain:
    Type: AWS::Serverless::Function
    Properties: {InlineCode: "x", Handler: index.handler, Runtime: python3.12}
"""


def test_recursive_loop_is_read_and_checked(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(LOOPING)
    spec, _ = load(template)
    loops = {f.logical_id: f.recursive_loop for f in spec.functions.values()}
    assert loops == {"Looper": "Allow", "Plain": "Terminate"}
    assert not [s for s in spec.skipped if "RecursiveLoop" in s.what]
    template.write_text(LOOPING.replace("RecursiveLoop: Allow", "RecursiveLoop: Sometimes"))
    spec, _ = load(template)
    assert "Looper" not in spec.functions
    assert "must be Allow or Terminate" in skipped(spec)["Looper (AWS::Serverless::Function)"]
