"""The tools' text output: tables, verdicts and break-even lines from hand-made results."""

from __future__ import annotations

import io

from lamina.billing.prices import load_prices
from lamina.billing.projection import parse_rate, parse_server_price
from lamina.tools.coldstart_report import coldstart_dict, write_coldstart
from lamina.tools.compare import compare_results, same_answer
from lamina.tools.compare_report import compare_dict, verdict, write_compare, write_pairs
from lamina.tools.formatting import money
from lamina.tools.tune_report import tune_dict, write_tune
from tests.tools.factories import cold_bench, tune_result

TABLE = load_prices()


def test_tune_text_marks_the_recommendation_and_the_current_size() -> None:
    out = io.StringIO()
    result = tune_result(TABLE)
    write_tune(result, TABLE, out, parse_rate("10/s"), parse_server_price("40$/month"))
    text = out.getvalue()
    assert text.splitlines()[0].startswith("cpu (python3.11, x86_64): 5 warm invokes per size")
    rows = {line.split()[0]: line for line in text.splitlines() if line.split()[:2][-1:] == ["MB"]}
    assert set(rows) == {"128", "512", "1024", "1769", "3008"}
    assert "(current)" in rows["128"]
    assert result.recommended is not None
    assert "<- cost" in rows[str(result.recommended.memory_mb)]
    assert "$ / MONTH @ 10/s" in text
    assert "configuration verified unchanged" in text
    assert "Lambda costs more than a $40.00/month server above" in text
    as_json = tune_dict(result, TABLE, parse_rate("10/s"))
    assert as_json["recommended_memory_mb"] == result.recommended.memory_mb
    assert [s["memory_mb"] for s in as_json["sizes"]] == [128, 512, 1024, 1769, 3008]


def test_compare_text_has_ratios_at_best_and_at_the_same_size() -> None:
    slow, fast = tune_result(TABLE, "py"), tune_result(TABLE, "rs", 0.25)
    c = compare_results(slow, fast, TABLE, parse_rate("10/s"))
    assert c.common_size == 3008
    # Mean latency at 3008 MB: 70 + 2 ms against 17.5 + 2 ms (the samples add 0..4 ms).
    assert c.latency_ratio is not None and round(c.latency_ratio, 4) == round(72 / 19.5, 4)
    assert c.cost_ratio is not None and c.cost_ratio > 1
    assert c.same_answer is True
    out = io.StringIO()
    write_compare(c, out, parse_server_price("40"), TABLE)
    text = out.getvalue()
    assert "MEAN MS @ 3008 MB" in text
    assert "py / rs" in text
    assert "rs (python3.11, 128 MB) costs" in text and "runs 3.7x faster at 3008 MB" in text
    assert text.count("Lambda costs more than") == 2
    pairs = io.StringIO()
    write_pairs([("work", c)], pairs, "10/s")
    assert "3.7x @ 3008" in pairs.getvalue() and "yes" in pairs.getvalue()
    assert compare_dict(c, TABLE)["ratios"]["latency"] == c.latency_ratio


def test_the_verdict_states_both_figures_of_every_difference() -> None:
    slow, fast = tune_result(TABLE, "py"), tune_result(TABLE, "rs", 0.25)
    c = compare_results(slow, fast, TABLE, parse_rate("10/s"))
    assert c.a.best is not None and c.b.best is not None
    said = verdict(c)
    low, high = c.b.best.cost_per_million, c.a.best.cost_per_million
    assert low is not None and high is not None
    saved = f"{1 - float(low / high):.0%}"
    assert said.startswith(
        f"rs (python3.11, {c.b.best.memory_mb} MB) costs {money(low)} per million invocations, "
        f"{saved} below py (python3.11, {c.a.best.memory_mb} MB) at {money(high)}"
    )
    assert c.a.monthly is not None and c.b.monthly is not None
    assert (
        f"at 10/s rs costs {money(c.b.monthly)} a month against {money(c.a.monthly)}, "
        f"{money(c.a.monthly - c.b.monthly)} less"
    ) in said


def test_the_verdict_of_two_equal_functions_says_they_are_the_same() -> None:
    one, other = tune_result(TABLE, "one"), tune_result(TABLE, "other")
    said = verdict(compare_results(one, other, TABLE, parse_rate("10/s")))
    assert "cost the same:" in said and "per million invocations" in said
    assert "about as fast" in said and "both cost $" in said
    for wrong in ("1.0x", "0%", "$0 a month", " less "):
        assert wrong not in said, said


def test_answers_compare_as_json_values() -> None:
    assert same_answer(b'{"a": 1, "b": [1, 2]}', b'{"b":[1,2],"a":1}') is True
    assert same_answer(b'{"a": 1}', b'{"a": 2}') is False
    assert same_answer(b"not json", b"not json") is True
    assert same_answer(None, b"{}") is None


def test_coldstart_text_ranks_and_compares_with_aws() -> None:
    out = io.StringIO()
    write_coldstart(cold_bench(), out)
    text = out.getvalue()
    assert "85.2 (Python 3.12)" in text
    assert text.splitlines()[-1].startswith("128 MB, Init Duration p50: Rust (8.00) < Python")
    assert text.splitlines()[-1].endswith("the same order as lambda-perf on AWS")
    assert coldstart_dict(cold_bench())["ranking"] == {"128": ["rust", "python", "node"]}
