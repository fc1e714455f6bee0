"""Tags Lamina keeps apart from a resource's configuration: rules, mappings, S3 objects."""

from __future__ import annotations

from typing import Any

import boto3

from tests.integration.harness import LaminaProcess, python_zip


def client(lamina: LaminaProcess, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=lamina.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA",
        aws_secret_access_key="lamina-secret",
    )


def test_rule_tags_are_kept_changed_and_dropped_with_the_rule(lamina: LaminaProcess) -> None:
    events = client(lamina, "events")
    arn = events.put_rule(
        Name="tagged-rule",
        ScheduleExpression="rate(1 hour)",
        Tags=[{"Key": "team", "Value": "a"}],
    )["RuleArn"]
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "a"}]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "dev"}])
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [
        {"Key": "env", "Value": "dev"}
    ]
    events.delete_rule(Name="tagged-rule")
    events.put_rule(Name="tagged-rule", ScheduleExpression="rate(1 hour)")
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == []
    events.delete_rule(Name="tagged-rule")


def test_mapping_tags_from_create_and_tag_resource(lamina: LaminaProcess) -> None:
    lamina.create("tagged-worker", python_zip("def handler(e, c):\n    return 1\n"))
    sqs = client(lamina, "sqs")
    url = sqs.create_queue(QueueName="tagged-source")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    lam = lamina.lambda_client()
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn, FunctionName="tagged-worker", Tags={"team": "a"}
    )
    arn = mapping["EventSourceMappingArn"]
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=arn, Tags={"env": "dev"})
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "dev"}
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
    lam.delete_function(FunctionName="tagged-worker")
    sqs.delete_queue(QueueUrl=url)


def test_object_tags_from_put_object_are_replaced_by_a_new_put(lamina: LaminaProcess) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=lamina.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA",
        aws_secret_access_key="lamina-secret",
        config=boto3.session.Config(s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket="tagged-objects")
    s3.put_object(Bucket="tagged-objects", Key="a", Body=b"1", Tagging="k=v&x=y%20z")
    tags = s3.get_object_tagging(Bucket="tagged-objects", Key="a")["TagSet"]
    assert tags == [{"Key": "k", "Value": "v"}, {"Key": "x", "Value": "y z"}]
    s3.put_object(Bucket="tagged-objects", Key="a", Body=b"2")
    assert s3.get_object_tagging(Bucket="tagged-objects", Key="a")["TagSet"] == []
    s3.put_object_tagging(
        Bucket="tagged-objects", Key="a", Tagging={"TagSet": [{"Key": "n", "Value": "1"}]}
    )
    assert s3.get_object_tagging(Bucket="tagged-objects", Key="a")["TagSet"] == [
        {"Key": "n", "Value": "1"}
    ]
    s3.delete_object(Bucket="tagged-objects", Key="a")
    s3.delete_bucket(Bucket="tagged-objects")
