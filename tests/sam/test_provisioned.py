"""SAM's ProvisionedConcurrencyConfig: on the AutoPublishAlias, refused without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sam.test_translate import load

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Hot:
    Type: AWS::Serverless::Function
    Properties:
      InlineCode: "def handler(e, c): return 1"
      Handler: index.handler
      Runtime: python3.12
{extra}
"""


def template(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE.format(extra=extra))
    return path


def test_provisioned_concurrency_goes_on_the_alias(tmp_path: Path) -> None:
    spec, _ = load(
        template(
            tmp_path,
            "      AutoPublishAlias: live\n"
            "      ProvisionedConcurrencyConfig:\n"
            "        ProvisionedConcurrentExecutions: 3\n",
        )
    )
    hot = spec.functions["Hot"]
    assert (hot.alias, hot.provisioned) == ("live", 3)
    assert not [s for s in spec.skipped if "Provisioned" in s.what]


def test_without_it_there_is_none(tmp_path: Path) -> None:
    spec, _ = load(template(tmp_path, "      AutoPublishAlias: live\n"))
    assert spec.functions["Hot"].provisioned is None


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            "      ProvisionedConcurrencyConfig:\n        ProvisionedConcurrentExecutions: 1\n",
            "AutoPublishALias must be defined",
        ),
        (
            "      AutoPublishAlias: live\n"
            "      ProvisionedConcurrencyConfig:\n        ProvisionedConcurrentExecutions: 0\n",
            "at least 1",
        ),
    ],
)
def test_what_sam_refuses(tmp_path: Path, extra: str, words: str) -> None:
    """The function is left out, with SAM's reason (as for any function it cannot make)."""
    spec, _ = load(template(tmp_path, extra))
    assert "Hot" not in spec.functions
    (skip,) = spec.skipped
    assert skip.what.startswith("Hot") and words in skip.reason
