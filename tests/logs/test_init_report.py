"""The INIT_REPORT line, formatted in one place."""

from __future__ import annotations

from lamina.logs.lines import init_report_line


def test_a_successful_init_report_has_no_error_type() -> None:
    assert init_report_line(812.345, "success") == (
        "INIT_REPORT Init Duration: 812.35 ms\tPhase: init\tStatus: success"
    )


def test_a_failed_init_report_names_the_error_type() -> None:
    assert init_report_line(3.0, "error", "Runtime.ExitError") == (
        "INIT_REPORT Init Duration: 3.00 ms\tPhase: init\tStatus: error"
        "\tError Type: Runtime.ExitError"
    )


def test_a_timed_out_first_attempt_says_timeout() -> None:
    assert init_report_line(10000.0, "timeout").endswith("\tStatus: timeout")
