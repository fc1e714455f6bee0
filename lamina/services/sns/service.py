"""The SNS service: topics, subscriptions, tags and publishing, as query operations.

Each operation takes the request's members (lists and maps already unflattened by
:mod:`lamina.services.sns.query`) and returns the answer's members. Publishing reads the
topic's subscriptions a page at a time, keeps those whose filter policy accepts the
message, and awaits each page's deliveries (:class:`~lamina.services.sns.fanout.Fanout`)
before the next: memory stays bounded by a page of messages, and the ``MessageId`` is
answered only once every delivery is durable.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from lamina.arns import parse_arn
from lamina.errors import AwsServiceError
from lamina.services.sns.attributes import (
    EFFECTIVE_DELIVERY_POLICY,
    OTHER_PROTOCOLS,
    PROTOCOLS,
    TOPIC_NAME,
    check_subscription_attribute,
    check_topic_attribute,
    default_policy,
    scope_of,
)
from lamina.services.sns.errors import (
    batch_error,
    invalid_parameter,
    limit_exceeded,
    not_found,
)
from lamina.services.sns.fanout import Fanout
from lamina.services.sns.filter import FilterPolicy, accepts, parse_filter_policy
from lamina.services.sns.message import Notification, Published, iso_millis, parse_published
from lamina.services.sns.query import Entries
from lamina.services.sns.store import SnsStore, Subscription, Topic

Members = Mapping[str, Any]
Operation = Callable[[Members], Awaitable[Mapping[str, Any]]]

PAGE = 100  # ListTopics answers 100 topics a page, the subscription lists 100 too
MAX_TOPICS = 100_000  # AWS's default quota of standard topics per account
MAX_SUBSCRIPTIONS = 12_500_000  # per standard topic, as AWS
MAX_FILTER_POLICIES = 200  # per topic, as AWS
MAX_TAGS = 50
MAX_BATCH = 10
FANOUT_PAGE = 100  # subscriptions delivered to at once
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def _string(members: Members, name: str) -> str:
    value = members.get(name)
    if not isinstance(value, str) or not value:
        raise invalid_parameter(f"Invalid parameter: {name}")
    return value


def _attributes(members: Members) -> dict[str, str]:
    raw = members.get("Attributes") or {}
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise invalid_parameter("Invalid parameter: Attributes")
    return dict(raw)


def _tags(members: Members) -> dict[str, str]:
    raw = members.get("Tags") or []
    if not isinstance(raw, list):
        raise invalid_parameter("Invalid parameter: Tags")
    out: dict[str, str] = {}
    for tag in raw:
        if not isinstance(tag, dict) or not isinstance(tag.get("Key"), str) or not tag["Key"]:
            raise invalid_parameter("Invalid parameter: Tags")
        value = tag.get("Value", "")
        if len(tag["Key"]) > 128 or len(str(value)) > 256:
            raise invalid_parameter("Invalid parameter: Tags")
        out[tag["Key"]] = str(value)
    return out


class SnsService:
    def __init__(
        self,
        store: SnsStore,
        fanout: Fanout,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.fanout = fanout
        self.region = region
        self.account = account
        self._clock = clock
        # Lamina's own address, for the links in notifications (set once it listens).
        self.endpoint = "http://localhost"

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateTopic": self.create_topic,
            "DeleteTopic": self.delete_topic,
            "ListTopics": self.list_topics,
            "GetTopicAttributes": self.get_topic_attributes,
            "SetTopicAttributes": self.set_topic_attributes,
            "Subscribe": self.subscribe,
            "Unsubscribe": self.unsubscribe,
            "ListSubscriptions": self.list_subscriptions,
            "ListSubscriptionsByTopic": self.list_subscriptions_by_topic,
            "GetSubscriptionAttributes": self.get_subscription_attributes,
            "SetSubscriptionAttributes": self.set_subscription_attributes,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "Publish": self.publish,
            "PublishBatch": self.publish_batch,
        }

    # -- topics -------------------------------------------------------------------------
    def topic_arn(self, name: str) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{name}"

    def _topic_arn_of(self, members: Members, name: str = "TopicArn") -> str:
        arn = _string(members, name)
        parsed = parse_arn(arn)
        if parsed is None or parsed.service != "sns" or not TOPIC_NAME.match(parsed.resource):
            raise invalid_parameter(f"Invalid parameter: {name}")
        return arn

    async def _topic(self, members: Members, name: str = "TopicArn") -> Topic:
        topic = await self.store.get_topic(self._topic_arn_of(members, name))
        if topic is None:
            raise not_found("Topic does not exist")
        return topic

    async def create_topic(self, members: Members) -> Mapping[str, Any]:
        name = _string(members, "Name")
        if not TOPIC_NAME.match(name):
            raise invalid_parameter(
                "Invalid parameter: Topic Name"
                + (" (Lamina's SNS has standard topics only)" if name.endswith(".fifo") else "")
            )
        attributes = _attributes(members)
        for key, value in attributes.items():
            check_topic_attribute(key, value)
        tags = _tags(members)
        if len(tags) > MAX_TAGS:
            raise AwsServiceError(
                "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
            )
        arn = self.topic_arn(name)
        if await self.store.get_topic(arn) is None and (
            await self.store.count_topics() >= MAX_TOPICS
        ):
            raise limit_exceeded("TopicLimitExceeded", "Topic limit exceeded")
        wanted = Topic(arn, name, attributes)
        stored = await self.store.create_topic(wanted, tags, self._clock())
        if stored is not wanted:
            # It existed: the same name with other attributes or tags is refused, as AWS.
            current = self._topic_attributes(stored, {})
            if any(current.get(k, "") != v for k, v in attributes.items()):
                raise invalid_parameter(
                    "Invalid parameter: Attributes Reason: Topic already exists with "
                    "different attributes"
                )
            if tags and await self.store.tags(arn) != tags:
                raise invalid_parameter(
                    "Invalid parameter: Tags Reason: Topic already exists with different tags"
                )
        return {"TopicArn": arn}

    async def delete_topic(self, members: Members) -> Mapping[str, Any]:
        # Deleting a topic that does not exist succeeds, as AWS.
        await self.store.delete_topic(self._topic_arn_of(members))
        return {}

    async def list_topics(self, members: Members) -> Mapping[str, Any]:
        after = members.get("NextToken") or ""
        arns = await self.store.list_topics(str(after), PAGE + 1)
        out: dict[str, Any] = {"Topics": [{"TopicArn": a} for a in arns[:PAGE]]}
        if len(arns) > PAGE:
            out["NextToken"] = arns[PAGE - 1]
        return out

    def _topic_attributes(self, topic: Topic, counts: dict[str, int]) -> dict[str, str]:
        return {
            "TopicArn": topic.arn,
            "Owner": self.account,
            "Policy": default_policy(topic.arn, self.account),
            "DisplayName": "",
            "SubscriptionsConfirmed": str(counts.get("confirmed", 0)),
            "SubscriptionsPending": "0",
            "SubscriptionsDeleted": "0",
            "EffectiveDeliveryPolicy": EFFECTIVE_DELIVERY_POLICY,
            "SignatureVersion": "1",
            "TracingConfig": "PassThrough",
            **topic.attributes,
        }

    async def get_topic_attributes(self, members: Members) -> Mapping[str, Any]:
        topic = await self._topic(members)
        confirmed = await self.store.count_subscriptions(topic.arn)
        attributes = self._topic_attributes(topic, {"confirmed": confirmed})
        return {"Attributes": Entries(attributes)}

    async def set_topic_attributes(self, members: Members) -> Mapping[str, Any]:
        topic = await self._topic(members)
        name = _string(members, "AttributeName")
        value = members.get("AttributeValue") or ""
        if not isinstance(value, str):
            raise invalid_parameter("Invalid parameter: AttributeValue")
        if name == "FifoTopic":
            raise invalid_parameter("Invalid parameter: AttributeName")  # set at creation only
        check_topic_attribute(name, value)
        attributes = dict(topic.attributes)
        if value:
            attributes[name] = value
        else:
            attributes.pop(name, None)  # an empty value restores the default
        await self.store.set_topic_attributes(topic.arn, attributes)
        return {}

    # -- subscriptions ------------------------------------------------------------------
    async def _subscription(self, members: Members) -> Subscription:
        arn = _string(members, "SubscriptionArn")
        sub = await self.store.get_subscription(arn)
        if sub is None:
            raise not_found("Subscription does not exist")
        return sub

    async def subscribe(self, members: Members) -> Mapping[str, Any]:
        topic = await self._topic(members)
        protocol = _string(members, "Protocol").lower()
        if protocol not in PROTOCOLS:
            if protocol in OTHER_PROTOCOLS:
                raise invalid_parameter(
                    f"Invalid parameter: Protocol: Lamina's SNS delivers to lambda and sqs "
                    f"subscriptions, not {protocol}"
                )
            raise invalid_parameter(
                f"Invalid parameter: Amazon SNS does not support this protocol string: {protocol}"
            )
        endpoint = _string(members, "Endpoint")
        target = parse_arn(endpoint)
        if protocol == "lambda" and (target is None or not target.is_function()):
            raise invalid_parameter("Invalid parameter: Lambda endpoint ARN")
        if protocol == "sqs" and (target is None or not target.is_queue()):
            raise invalid_parameter("Invalid parameter: SQS endpoint ARN")
        attributes = _attributes(members)
        scope = scope_of(attributes)
        for key, value in attributes.items():
            check_subscription_attribute(key, value, protocol, scope)
        existing = await self.store.find_subscription(topic.arn, protocol, endpoint)
        if existing is not None:
            if any(existing.attributes.get(k, "") != v for k, v in attributes.items()):
                raise invalid_parameter(
                    "Invalid parameter: Attributes Reason: Subscription already exists with "
                    "different attributes"
                )
            return {"SubscriptionArn": existing.arn}
        if attributes.get("FilterPolicy") and (
            await self.store.count_filtered(topic.arn) >= MAX_FILTER_POLICIES
        ):
            raise limit_exceeded("FilterPolicyLimitExceeded", "Filter policy limit exceeded")
        sub = Subscription(f"{topic.arn}:{uuid.uuid4()}", topic.arn, protocol, endpoint, attributes)
        if not await self.store.add_subscription(sub, self._clock(), MAX_SUBSCRIPTIONS):
            if await self.store.get_topic(topic.arn) is None:
                raise not_found("Topic does not exist")
            raise limit_exceeded("SubscriptionLimitExceeded", "Subscription limit exceeded")
        # lambda and sqs subscriptions are confirmed at once (as AWS, within one account),
        # so ReturnSubscriptionArn changes nothing: the ARN is always answered.
        return {"SubscriptionArn": sub.arn}

    async def unsubscribe(self, members: Members) -> Mapping[str, Any]:
        arn = _string(members, "SubscriptionArn")
        topic_arn, _, sub_id = arn.rpartition(":")
        if not sub_id or parse_arn(topic_arn) is None:
            raise invalid_parameter("Invalid parameter: SubscriptionArn")
        await self.store.delete_subscription(arn)
        return {}

    def _listed(self, sub: Subscription) -> dict[str, str]:
        return {
            "SubscriptionArn": sub.arn,
            "Owner": self.account,
            "Protocol": sub.protocol,
            "Endpoint": sub.endpoint,
            "TopicArn": sub.topic_arn,
        }

    async def _list(self, topic_arn: str | None, members: Members) -> Mapping[str, Any]:
        after = str(members.get("NextToken") or "")
        subs = await self.store.subscriptions(topic_arn, after, PAGE + 1)
        out: dict[str, Any] = {"Subscriptions": [self._listed(s) for s in subs[:PAGE]]}
        if len(subs) > PAGE:
            out["NextToken"] = subs[PAGE - 1].arn
        return out

    async def list_subscriptions(self, members: Members) -> Mapping[str, Any]:
        return await self._list(None, members)

    async def list_subscriptions_by_topic(self, members: Members) -> Mapping[str, Any]:
        topic = await self._topic(members)
        return await self._list(topic.arn, members)

    async def get_subscription_attributes(self, members: Members) -> Mapping[str, Any]:
        sub = await self._subscription(members)
        attributes = {
            **self._listed(sub),
            "ConfirmationWasAuthenticated": "true",
            "PendingConfirmation": "false",
            "RawMessageDelivery": "false",
            "SubscriptionPrincipal": f"arn:aws:iam::{self.account}:root",
            **sub.attributes,
        }
        if sub.attributes.get("FilterPolicy"):
            attributes["FilterPolicyScope"] = scope_of(sub.attributes)
        else:
            attributes.pop("FilterPolicyScope", None)
        return {"Attributes": Entries(attributes)}

    async def set_subscription_attributes(self, members: Members) -> Mapping[str, Any]:
        sub = await self._subscription(members)
        name = _string(members, "AttributeName")
        value = members.get("AttributeValue") or ""
        if not isinstance(value, str):
            raise invalid_parameter("Invalid parameter: AttributeValue")
        attributes = dict(sub.attributes)
        scope = value if name == "FilterPolicyScope" else scope_of(attributes)
        check_subscription_attribute(name, value, sub.protocol, scope)
        if name == "FilterPolicyScope" and attributes.get("FilterPolicy"):
            # The policy must still hold in its new scope (nested ones do not in attributes).
            parse_filter_policy(attributes["FilterPolicy"], value)
        if (
            name == "FilterPolicy"
            and value
            and not attributes.get("FilterPolicy")
            and await self.store.count_filtered(sub.topic_arn) >= MAX_FILTER_POLICIES
        ):
            raise limit_exceeded("FilterPolicyLimitExceeded", "Filter policy limit exceeded")
        if value:
            attributes[name] = value
        else:
            attributes.pop(name, None)
        await self.store.set_subscription_attributes(sub.arn, attributes)
        return {}

    # -- tags ---------------------------------------------------------------------------
    async def _tagged(self, members: Members) -> str:
        arn = _string(members, "ResourceArn")
        if await self.store.get_topic(arn) is None:
            raise AwsServiceError("ResourceNotFound", "Resource does not exist", 404)
        return arn

    async def tag_resource(self, members: Members) -> Mapping[str, Any]:
        arn = await self._tagged(members)
        tags = _tags(members)
        if len({**await self.store.tags(arn), **tags}) > MAX_TAGS:
            raise AwsServiceError(
                "TagLimitExceeded", "Could not complete request: tag quota of per resource exceeded"
            )
        await self.store.tag(arn, tags)
        return {}

    async def untag_resource(self, members: Members) -> Mapping[str, Any]:
        arn = await self._tagged(members)
        keys = members.get("TagKeys") or []
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise invalid_parameter("Invalid parameter: TagKeys")
        await self.store.untag(arn, keys)
        return {}

    async def list_tags_for_resource(self, members: Members) -> Mapping[str, Any]:
        arn = await self._tagged(members)
        tags = await self.store.tags(arn)
        return {"Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}

    # -- publishing ---------------------------------------------------------------------
    async def publish(self, members: Members) -> Mapping[str, Any]:
        if members.get("PhoneNumber"):
            raise invalid_parameter(
                "Invalid parameter: PhoneNumber: Lamina's SNS does not send SMS"
            )
        name = "TopicArn" if members.get("TopicArn") else "TargetArn"
        topic = await self._topic(members, name)
        published = parse_published(members)
        return {"MessageId": await self.fan_out(topic.arn, published)}

    async def publish_batch(self, members: Members) -> Mapping[str, Any]:
        topic = await self._topic(members)
        entries = members.get("PublishBatchRequestEntries") or []
        if not isinstance(entries, list) or not entries:
            raise batch_error("EmptyBatchRequest", "The batch request doesn't contain any entries")
        if len(entries) > MAX_BATCH:
            raise batch_error(
                "TooManyEntriesInBatchRequest",
                "The batch request contains more entries than permissible (10)",
            )
        ids = [e.get("Id") if isinstance(e, dict) else None for e in entries]
        for entry_id in ids:
            if not isinstance(entry_id, str) or not _BATCH_ID.match(entry_id):
                raise batch_error(
                    "InvalidBatchEntryId",
                    "The Id of a batch entry in a batch request doesn't abide by the specification",
                )
        if len(set(ids)) != len(ids):
            raise batch_error(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id",
            )
        parsed: list[tuple[str, Published | AwsServiceError]] = []
        total = 0
        for entry in entries:
            try:
                published = parse_published(entry)
                total += len(published.message.encode())
                parsed.append((entry["Id"], published))
            except AwsServiceError as exc:
                parsed.append((entry["Id"], exc))
        if total > 262_144:
            raise batch_error(
                "BatchRequestTooLong",
                "The length of all the messages put together is more than the limit",
            )
        successful: list[dict[str, str]] = []
        failed: list[dict[str, Any]] = []
        for entry_id, outcome in parsed:
            if isinstance(outcome, AwsServiceError):
                failed.append(
                    {
                        "Id": entry_id,
                        "Code": outcome.code,
                        "Message": outcome.message,
                        "SenderFault": True,
                    }
                )
            else:
                message_id = await self.fan_out(topic.arn, outcome)
                successful.append({"Id": entry_id, "MessageId": message_id})
        return {"Successful": successful, "Failed": failed}

    async def publish_to_arn(
        self,
        arn: str,
        message: str,
        attributes: dict[str, tuple[str, str]],
        subject: str | None = None,
    ) -> str:
        """Publish Lamina's own message (a destination record, a dead letter, an S3
        notification) to a topic by ARN; raises NotFound when the topic does not exist."""
        shaped = {k: {"DataType": t, "StringValue": v} for k, (t, v) in attributes.items() if v}
        published = parse_published(
            {"Message": message, "MessageAttributes": shaped, "Subject": subject}
        )
        if await self.store.get_topic(arn) is None:
            raise not_found("Topic does not exist")
        return await self.fan_out(arn, published)

    async def fan_out(self, topic_arn: str, published: Published) -> str:
        """Deliver to every subscription whose filter accepts the message, a page at a
        time; returns the message's id once every delivery is durable."""
        message_id = str(uuid.uuid4())
        timestamp = iso_millis(self._clock())
        after = ""
        while True:
            page = await self.store.subscriptions(topic_arn, after, FANOUT_PAGE)
            if not page:
                break
            after = page[-1].arn
            chosen = [s for s in page if self._accepts(s, published)]
            await asyncio.gather(
                *(
                    self.fanout.deliver(
                        s,
                        published,
                        Notification(message_id, topic_arn, s.arn, timestamp, self.endpoint),
                    )
                    for s in chosen
                )
            )
            if len(page) < FANOUT_PAGE:
                break
        return message_id

    @staticmethod
    def _accepts(sub: Subscription, published: Published) -> bool:
        policy = _policy(sub.attributes.get("FilterPolicy", ""), scope_of(sub.attributes))
        return accepts(policy, published.message_for(sub.protocol), published.attributes)


@functools.lru_cache(maxsize=1024)
def _policy(text: str, scope: str) -> FilterPolicy | None:
    """A stored (so already checked) filter policy, parsed once while it is in use."""
    return parse_filter_policy(text, scope)
