"""The SNS service in process, with recording deliveries in place of the async-invoke queue
and SQS: a publish reaches every subscription a page at a time, filters decide per
subscription, deliveries carry SNS's trigger, failures go to the redrive queue."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.sns.fanout import Fanout
from lamina.services.sns.service import FANOUT_PAGE, SnsService
from lamina.services.sns.store import SnsStore
from lamina.triggers import TRIGGER

QUEUE = "arn:aws:sqs:us-east-1:000000000000:"
FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:"


class Recorder:
    """Stands for the async-invoke queue and SQS: records what each is handed, counts how
    many deliveries are in flight at once, and refuses queues named ``gone-*``."""

    def __init__(self) -> None:
        self.invoked: list[tuple[str, str | None, dict[str, Any], str]] = []
        self.sent: list[tuple[str, str, dict[str, tuple[str, str]]]] = []
        self.inflight = 0
        self.most = 0

    async def _held(self) -> None:
        self.inflight += 1
        self.most = max(self.most, self.inflight)
        await asyncio.sleep(0)  # let the other deliveries of the page start
        self.inflight -= 1

    async def enqueue(self, name: str, qualifier: str | None, payload: bytes) -> str:
        await self._held()
        self.invoked.append((name, qualifier, json.loads(payload), TRIGGER.get()))
        return "rid"

    async def send(self, arn: str, body: str, attrs: dict[str, tuple[str, str]]) -> None:
        await self._held()
        if arn.rpartition(":")[2].startswith("gone-"):
            raise AwsServiceError("AWS.SimpleQueueService.NonExistentQueue", "no queue")
        self.sent.append((arn, body, attrs))


def run(tmp_path: Path, body: Callable[[SnsService, Recorder], Awaitable[None]]) -> Recorder:
    recorder = Recorder()

    async def main() -> None:
        store = SnsStore(tmp_path / "sns.db", fsync=False)
        try:
            service = SnsService(
                store, Fanout(recorder.enqueue, recorder.send), "us-east-1", "000000000000"
            )
            await body(service, recorder)
        finally:
            store.close()

    asyncio.run(main())
    return recorder


def test_a_publish_reaches_every_subscription_a_page_at_a_time(tmp_path: Path) -> None:
    count = FANOUT_PAGE * 2 + 50

    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "wide"}))["TopicArn"]
        for i in range(count):
            await sns.subscribe(
                {"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}q{i:04d}"}
            )
        await sns.publish({"TopicArn": topic, "Message": "to all"})

    recorder = run(tmp_path, body)
    assert sorted(arn for arn, _, _ in recorder.sent) == [f"{QUEUE}q{i:04d}" for i in range(count)]
    assert recorder.most == FANOUT_PAGE  # a page at once, never more


def test_functions_are_enqueued_as_pubsub_with_their_qualifier(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        await sns.subscribe(
            {"TopicArn": topic, "Protocol": "lambda", "Endpoint": f"{FUNCTION}f:live"}
        )
        await sns.publish({"TopicArn": topic, "Message": "m", "Subject": "s"})

    ((name, qualifier, event, trigger),) = run(tmp_path, body).invoked
    assert (name, qualifier, trigger) == ("f", "live", "pubsub")
    assert event["Records"][0]["Sns"]["Subject"] == "s"


def test_filters_decide_per_subscription(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        policy = json.dumps({"color": ["red"]})
        await sns.subscribe(
            {
                "TopicArn": topic,
                "Protocol": "sqs",
                "Endpoint": f"{QUEUE}red",
                "Attributes": {"FilterPolicy": policy, "RawMessageDelivery": "true"},
            }
        )
        await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}all"})
        for color in ("red", "blue"):
            attributes = {"color": {"DataType": "String", "StringValue": color}}
            await sns.publish(
                {"TopicArn": topic, "Message": color, "MessageAttributes": attributes}
            )

    sent = run(tmp_path, body).sent
    assert [(arn, body, attrs) for arn, body, attrs in sent if arn.endswith("red")] == [
        (f"{QUEUE}red", "red", {"color": ("String", "red")})
    ]
    assert sorted(json.loads(b)["Message"] for arn, b, _ in sent if arn.endswith("all")) == [
        "blue",
        "red",
    ]


def test_an_undeliverable_message_goes_to_the_redrive_queue(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        redrive = json.dumps({"deadLetterTargetArn": f"{QUEUE}dlq"})
        await sns.subscribe(
            {
                "TopicArn": topic,
                "Protocol": "sqs",
                "Endpoint": f"{QUEUE}gone-queue",
                "Attributes": {"RedrivePolicy": redrive},
            }
        )
        await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}gone-too"})
        message_id = (await sns.publish({"TopicArn": topic, "Message": "lost?"}))["MessageId"]
        assert message_id  # the publish succeeds: a failed delivery never fails it

    ((arn, body_text, _),) = run(tmp_path, body).sent
    assert arn == f"{QUEUE}dlq"
    assert json.loads(body_text)["Message"] == "lost?"


def test_subscription_rules(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        first = await sns.subscribe(
            {"TopicArn": topic, "Protocol": "lambda", "Endpoint": f"{FUNCTION}f"}
        )
        again = await sns.subscribe(
            {"TopicArn": topic, "Protocol": "lambda", "Endpoint": f"{FUNCTION}f"}
        )
        assert first == again
        for attributes in (
            {"RawMessageDelivery": "true"},  # not for lambda
            {"FilterPolicy": "{"},
            {"FilterPolicyScope": "Headers"},
            {"RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sns:us-east-1:1:t"})},
            {"Color": "red"},
        ):
            with pytest.raises(AwsServiceError) as err:
                await sns.subscribe(
                    {
                        "TopicArn": topic,
                        "Protocol": "lambda",
                        "Endpoint": f"{FUNCTION}g",
                        "Attributes": attributes,
                    }
                )
            assert err.value.code == "InvalidParameter", attributes
        with pytest.raises(AwsServiceError) as err:
            await sns.subscribe(
                {
                    "TopicArn": topic,
                    "Protocol": "lambda",
                    "Endpoint": f"{FUNCTION}f",
                    "Attributes": {"FilterPolicy": json.dumps({"a": ["b"]})},
                }
            )
        assert "different attributes" in err.value.message
        # A nested policy must move to the body scope first.
        arn = first["SubscriptionArn"]
        nested = json.dumps({"a": {"b": ["c"]}})
        with pytest.raises(AwsServiceError):
            await sns.set_subscription_attributes(
                {"SubscriptionArn": arn, "AttributeName": "FilterPolicy", "AttributeValue": nested}
            )
        for name, value in (("FilterPolicyScope", "MessageBody"), ("FilterPolicy", nested)):
            await sns.set_subscription_attributes(
                {"SubscriptionArn": arn, "AttributeName": name, "AttributeValue": value}
            )
        got = (await sns.get_subscription_attributes({"SubscriptionArn": arn}))["Attributes"]
        assert (got["FilterPolicyScope"], got["FilterPolicy"]) == ("MessageBody", nested)
        with pytest.raises(AwsServiceError):  # a nested policy cannot go back to attributes
            await sns.set_subscription_attributes(
                {
                    "SubscriptionArn": arn,
                    "AttributeName": "FilterPolicyScope",
                    "AttributeValue": "MessageAttributes",
                }
            )

    run(tmp_path, body)


def test_a_topic_without_subscribers_takes_publishes_and_lamina_publishes_by_arn(
    tmp_path: Path,
) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "quiet"}))["TopicArn"]
        assert (await sns.publish({"TopicArn": topic, "Message": "m"}))["MessageId"]
        await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}q"})
        await sns.publish_to_arn(topic, '{"x": 1}', {"RequestID": ("String", "r")}, "Subject")
        with pytest.raises(AwsServiceError) as err:
            await sns.publish_to_arn(topic + "-gone", "m", {})
        assert err.value.code == "NotFound"

    ((_, body_text, _),) = run(tmp_path, body).sent
    envelope = json.loads(body_text)
    assert envelope["Subject"] == "Subject"
    assert envelope["MessageAttributes"] == {"RequestID": {"Type": "String", "Value": "r"}}


def test_lists_are_paged_and_a_deleted_topic_takes_its_subscriptions(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "many"}))["TopicArn"]
        other = (await sns.create_topic({"Name": "other"}))["TopicArn"]
        made = {
            (
                await sns.subscribe(
                    {"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}q{i}"}
                )
            )["SubscriptionArn"]
            for i in range(130)
        }
        await sns.subscribe({"TopicArn": other, "Protocol": "sqs", "Endpoint": f"{QUEUE}q0"})
        listed: list[str] = []
        token: str | None = None
        while True:
            page = await sns.list_subscriptions_by_topic(
                {"TopicArn": topic, **({"NextToken": token} if token else {})}
            )
            assert len(page["Subscriptions"]) <= 100
            listed += [s["SubscriptionArn"] for s in page["Subscriptions"]]
            token = page.get("NextToken")
            if token is None:
                break
        assert sorted(listed) == sorted(made)
        attributes = (await sns.get_topic_attributes({"TopicArn": topic}))["Attributes"]
        assert attributes["SubscriptionsConfirmed"] == "130"
        await sns.delete_topic({"TopicArn": topic})
        remaining = (await sns.list_subscriptions({}))["Subscriptions"]
        assert [s["TopicArn"] for s in remaining] == [other]
        await sns.delete_topic({"TopicArn": topic})  # again: not an error, as on AWS

    run(tmp_path, body)


def test_a_topic_holds_at_most_200_filter_policies(tmp_path: Path) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        policy = {"FilterPolicy": json.dumps({"a": ["b"]})}
        for i in range(200):
            await sns.subscribe(
                {
                    "TopicArn": topic,
                    "Protocol": "sqs",
                    "Endpoint": f"{QUEUE}q{i}",
                    "Attributes": policy,
                }
            )
        with pytest.raises(AwsServiceError) as err:
            await sns.subscribe(
                {
                    "TopicArn": topic,
                    "Protocol": "sqs",
                    "Endpoint": f"{QUEUE}q200",
                    "Attributes": policy,
                }
            )
        assert (err.value.code, err.value.status) == ("FilterPolicyLimitExceeded", 403)
        # Without a filter policy the subscription is taken.
        await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}q200"})

    run(tmp_path, body)


def test_a_functions_subscriptions_are_found_by_its_arn_with_any_qualifier(
    tmp_path: Path,
) -> None:
    async def body(sns: SnsService, _: Recorder) -> None:
        topic = (await sns.create_topic({"Name": "t"}))["TopicArn"]
        for endpoint in (f"{FUNCTION}f", f"{FUNCTION}f:live", f"{FUNCTION}fx"):
            await sns.subscribe({"TopicArn": topic, "Protocol": "lambda", "Endpoint": endpoint})
        await sns.subscribe({"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"{QUEUE}f"})
        found = await sns.store.lambda_subscriptions(f"{FUNCTION}f")
        assert sorted(s.endpoint for s in found) == [f"{FUNCTION}f", f"{FUNCTION}f:live"]

    run(tmp_path, body)
