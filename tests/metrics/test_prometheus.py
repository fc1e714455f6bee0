"""The Prometheus rendering and the scrape's credentials (pure)."""

from __future__ import annotations

import base64
from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from lamina.billing.rollups import Minute
from lamina.metrics.endpoint import basic_credentials
from lamina.metrics.otlp import span_ids
from lamina.metrics.prometheus import Gauges, render
from lamina.models.invocation import Outcome
from lamina.tracing import invocation_ids, xray_header
from tests.billing.test_ledger import make_record


def test_render_is_valid_exposition_with_escaped_labels() -> None:
    m = Minute()
    m.add(make_record(0, duration_ms=3.0, init_ms=80.0), Decimal("0.1"), Decimal("0.000002"))
    m.add(make_record(1, duration_ms=2000.0, outcome=Outcome.TIMEOUT), Decimal(0), Decimal(0))
    text = render(
        {('we"ird\\fn', "1"): m},
        Gauges(concurrent={'we"ird\\fn': 2}, environments={"idle": 1, "busy": 0}),
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    fv = (("faas_name", 'we"ird\\fn'), ("faas_version", "1"))
    assert samples[("faas_invocations_total", fv)] == 2
    assert samples[("faas_timeouts_total", fv)] == 1
    assert samples[("faas_errors_total", fv)] == 1
    assert samples[("faas_invoke_duration_seconds_bucket", (*fv, ("le", "0.005")))] == 1
    assert samples[("faas_invoke_duration_seconds_bucket", (*fv, ("le", "+Inf")))] == 2
    assert samples[("faas_init_duration_seconds_count", fv)] == 1
    assert samples[("lamina_cost_usd_total", fv)] == 0.000002
    assert samples[("faas_concurrent_executions", (("faas_name", 'we"ird\\fn'),))] == 2
    assert samples[("lamina_environments", (("state", "idle"),))] == 1


def test_on_a_cluster_environments_are_counted_per_node() -> None:
    text = render(
        {},
        Gauges(
            concurrent={},
            environments={"idle": 0},  # the control plane's own pool: not shown on a cluster
            node_environments={"n2": {"idle": 2, "busy": 0}, "n1": {"idle": 0, "busy": 1}},
        ),
    )
    samples = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "lamina_environments"
    }
    assert samples == {
        (("node", "n1"), ("state", "busy")): 1,
        (("node", "n1"), ("state", "idle")): 0,
        (("node", "n2"), ("state", "busy")): 0,
        (("node", "n2"), ("state", "idle")): 2,
    }


def test_basic_credentials() -> None:
    token = base64.b64encode(b"AKID:se:cret").decode()
    assert basic_credentials(f"Basic {token}") == ("AKID", "se:cret")
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials("AWS4-HMAC-SHA256 Credential=x") is None
    assert basic_credentials("Basic " + base64.b64encode(b"nocolon").decode()) is None


def test_the_span_has_the_ids_the_function_was_given() -> None:
    rec = make_record(0)
    rid = "265BDC62-1706-4e73-88d5-b5e4347f1a43"
    rec = rec._replace(request_id=rid)
    header = xray_header(rid, rec.started_at)
    root, parent = header.split(";")[0], header.split(";")[1]
    trace, span = span_ids(rec)
    assert root == f"Root=1-{trace[:8]}-{trace[8:]}" and parent == f"Parent={span}"
    assert trace[:8] == f"{int(rec.started_at):08x}"
    # Not a UUID: random header, hashed span ids (still well-formed).
    assert invocation_ids("req-1", 0.0) is None
    assert xray_header("req-1", 0.0).startswith("Root=1-00000000-")
    odd = rec._replace(request_id="x")
    assert [len(part) for part in span_ids(odd)] == [32, 16]


def test_x_ray_documents_are_counted_by_function_and_outcome() -> None:
    xray = {("fn", "kept"): 3, ("fn", "trace full"): 2, ("", "not JSON"): 7}
    text = render({}, Gauges(concurrent={}, environments={}, xray=xray))
    samples = {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "lamina_xray_documents_total"
    }
    assert samples == {
        (("faas_name", "fn"), ("outcome", "kept")): 3,
        (("faas_name", "fn"), ("outcome", "trace full")): 2,
        (("faas_name", ""), ("outcome", "not JSON")): 7,
    }
