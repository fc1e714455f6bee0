"""The server raises its own open-files limit (environments hold ~11 descriptors each)."""

from __future__ import annotations

import resource

from lamina.server import open_files_wanted, raise_open_files_limit

INF = resource.RLIM_INFINITY


def test_the_soft_limit_rises_to_the_hard_one() -> None:
    assert open_files_wanted(1024, 20000) == 20000
    assert open_files_wanted(1024, 1024) == 1024


def test_a_higher_or_unlimited_soft_limit_is_kept() -> None:
    assert open_files_wanted(50000, 50000) == 50000
    assert open_files_wanted(INF, INF) == INF


def test_an_unlimited_hard_limit_gives_a_million() -> None:
    assert open_files_wanted(1024, INF) == 1_048_576
    assert open_files_wanted(2_000_000, INF) == 2_000_000


def test_a_server_started_with_1024_ends_with_the_hard_limit() -> None:
    # This process stands in for the server (no child process: the fast selection starts
    # none); its own limit is put back afterwards.
    before = resource.getrlimit(resource.RLIMIT_NOFILE)
    hard = before[1]
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))
        raise_open_files_limit()
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, before)
    assert soft == open_files_wanted(1024, hard)
    assert soft > 1024 or hard == 1024
