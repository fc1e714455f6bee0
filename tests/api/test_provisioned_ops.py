"""Get and List share one path: IAM authorises the List as lambda:ListProvisioned... ."""

from __future__ import annotations

from lamina.api.provisioned_ops import list_operation
from lamina.services.iam.actions import lambda_access
from lamina.wire.http import Request

PATH = "/2019-09-30/functions/fn/provisioned-concurrency"
GET = "GetProvisionedConcurrencyConfig"


def test_the_list_is_authorised_as_list_and_the_get_as_get() -> None:
    listing = Request("GET", PATH + "?List=ALL", {}, b"")
    getting = Request("GET", PATH + "?Qualifier=live", {}, b"")
    assert list_operation(GET, listing) == "ListProvisionedConcurrencyConfigs"
    assert list_operation(GET, getting) == GET
    assert list_operation("PutProvisionedConcurrencyConfig", listing) == (
        "PutProvisionedConcurrencyConfig"
    )
    access = lambda_access(
        list_operation(GET, listing), {"FunctionName": "fn"}, {}, "us-east-1", "000000000000"
    )
    assert access.action == "lambda:ListProvisionedConcurrencyConfigs"
