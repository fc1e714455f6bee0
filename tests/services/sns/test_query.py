"""SNS's query protocol: member lists and entry maps in, entry maps and members out."""

from __future__ import annotations

from xml.etree import ElementTree

from lamina.services.sns.query import NAMESPACE, Entries, parse_params, render


def test_lists_and_maps_are_unflattened() -> None:
    members = parse_params(
        {
            "Action": "CreateTopic",
            "Version": "2010-03-31",
            "Name": "t",
            "Attributes.entry.1.key": "DisplayName",
            "Attributes.entry.1.value": "T",
            "Tags.member.1.Key": "k",
            "Tags.member.1.Value": "v",
            "Tags.member.2.Key": "k2",
            "Tags.member.2.Value": "v2",
            "MessageAttributes.entry.1.Name": "n",
            "MessageAttributes.entry.1.Value.DataType": "Number",
            "MessageAttributes.entry.1.Value.StringValue": "1",
            "TagKeys.member.1": "a",
            "TagKeys.member.2": "b",
        }
    )
    assert members == {
        "Name": "t",
        "Attributes": {"DisplayName": "T"},
        "Tags": [{"Key": "k", "Value": "v"}, {"Key": "k2", "Value": "v2"}],
        "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}},
        "TagKeys": ["a", "b"],
    }


def test_answers_write_entries_members_and_an_empty_result() -> None:
    root = ElementTree.fromstring(
        render(
            "GetTopicAttributes",
            {"Attributes": Entries({"A": "<1>"}), "Topics": [{"TopicArn": "x"}]},
            "rid",
        )
    )
    ns = {"s": NAMESPACE}
    entry = root.find("s:GetTopicAttributesResult/s:Attributes/s:entry", ns)
    assert entry is not None
    assert entry.findtext("s:key", namespaces=ns) == "A"
    assert entry.findtext("s:value", namespaces=ns) == "<1>"
    assert (
        root.findtext("s:GetTopicAttributesResult/s:Topics/s:member/s:TopicArn", namespaces=ns)
        == "x"
    )
    assert root.findtext("s:ResponseMetadata/s:RequestId", namespaces=ns) == "rid"
    empty = ElementTree.fromstring(render("TagResource", {}, "r"))
    assert empty.find("s:TagResourceResult", ns) is not None
