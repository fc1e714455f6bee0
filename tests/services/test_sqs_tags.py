"""SQS queue tags (TagQueue / UntagQueue / ListQueueTags), as Terraform's aws_sqs_queue uses them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.services.sqs_fixtures import SqsServer, start_sqs
from tests.services.test_sqs_service import query


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path)


def test_tags_are_set_merged_removed_and_listed(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="tagged", tags={"team": "a"})["QueueUrl"]
    assert c.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "a"}
    c.tag_queue(QueueUrl=url, Tags={"env": "dev", "team": "b"})
    assert c.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "b", "env": "dev"}
    c.untag_queue(QueueUrl=url, TagKeys=["team", "absent"])
    assert c.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev"}
    c.untag_queue(QueueUrl=url, TagKeys=["env"])
    assert "Tags" not in c.list_queue_tags(QueueUrl=url)
    with pytest.raises(ClientError) as err:
        c.tag_queue(QueueUrl=url, Tags={f"k{i}": "v" for i in range(51)})
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    c.delete_queue(QueueUrl=url)
    with pytest.raises(c.exceptions.QueueDoesNotExist):
        c.list_queue_tags(QueueUrl=url)


def test_tags_over_the_query_protocol(sqs: SqsServer) -> None:
    url = sqs.client().create_queue(QueueName="old")["QueueUrl"]
    status, _ = query(
        sqs.url, {"Action": "TagQueue", "QueueUrl": url, "Tag.1.Key": "k", "Tag.1.Value": "v"}
    )
    assert status == 200
    status, root = query(sqs.url, {"Action": "ListQueueTags", "QueueUrl": url})
    assert status == 200
    tags = [(t[0].text, t[1].text) for t in root.iter() if t.tag.endswith("}Tag")]
    assert tags == [("k", "v")]
    status, _ = query(sqs.url, {"Action": "UntagQueue", "QueueUrl": url, "TagKey.1": "k"})
    assert status == 200
    assert sqs.client().list_queue_tags(QueueUrl=url).get("Tags") is None
