"""The agent's code cache: verified, atomic, one fetch per digest, bounded by LRU."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.cluster.codecache import (
    CacheEntry,
    CodeCache,
    CodeFetchError,
    CodeHashMismatch,
    CodeTooLarge,
    plan_eviction,
)
from lamina.errors import LaminaError, ResourceNotFound


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Source:
    """Packages by digest, counting the fetches; ``gate`` holds fetches until set."""

    def __init__(self, *packages: bytes) -> None:
        self.packages = {sha(p): p for p in packages}
        self.calls: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, digest: str) -> Iterator[bytes]:
        with self.lock:
            self.calls.append(digest)
        if digest not in self.packages:
            raise ResourceNotFound(f"no {digest}")
        data = self.packages[digest]
        return self._chunks(data)

    def _chunks(self, data: bytes) -> Iterator[bytes]:
        assert self.gate.wait(30)
        for i in range(0, len(data), 7):
            yield data[i : i + 7]


def test_a_missing_package_is_fetched_verified_and_stored_once(tmp_path: Path) -> None:
    data = b"PK\x03\x04 pretend zip " * 10
    source = Source(data)
    cache = CodeCache(tmp_path / "cache", source)
    path = cache.ensure(sha(data))
    assert path == tmp_path / "cache" / f"{sha(data)}.zip"
    assert path.read_bytes() == data
    assert cache.ensure(sha(data)) == path
    assert source.calls == [sha(data)]  # the second call was a hit
    assert cache.has(sha(data)) and cache.size == len(data)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp left


def test_bytes_that_do_not_match_the_digest_are_refused_and_deleted(tmp_path: Path) -> None:
    wanted = sha(b"the real package")
    cache = CodeCache(tmp_path, lambda _digest: b"something else")
    with pytest.raises(CodeHashMismatch) as info:
        cache.ensure(wanted)
    assert isinstance(info.value, LaminaError)
    assert info.value.status == 500 and info.value.error_type == "ServiceException"
    assert sha(b"something else") in str(info.value)
    assert list(tmp_path.iterdir()) == []
    assert not cache.has(wanted)


def test_a_source_without_the_digest_is_not_found(tmp_path: Path) -> None:
    cache = CodeCache(tmp_path, Source())
    with pytest.raises(ResourceNotFound):
        cache.ensure(sha(b"nobody has this"))
    assert list(tmp_path.iterdir()) == []


def test_a_failing_source_becomes_a_fetch_error_and_the_next_call_retries(
    tmp_path: Path,
) -> None:
    data = b"flaky"
    attempts: list[int] = []

    def flaky(digest: str) -> Iterator[bytes]:
        attempts.append(1)
        yield data[:2]
        if len(attempts) == 1:
            raise ConnectionResetError("peer went away mid-stream")
        yield data[2:]

    cache = CodeCache(tmp_path, flaky)
    with pytest.raises(CodeFetchError, match="peer went away"):
        cache.ensure(sha(data))
    assert list(tmp_path.iterdir()) == []
    assert cache.ensure(sha(data)).read_bytes() == data
    assert len(attempts) == 2


def test_digests_that_are_not_sha256_hex_never_become_paths(tmp_path: Path) -> None:
    source = Source()
    cache = CodeCache(tmp_path, source)
    for bad in ("../../etc/passwd", "A" * 64, "abc", sha(b"x") + ".zip", ""):
        with pytest.raises(ResourceNotFound):
            cache.ensure(bad)
    assert source.calls == []


def test_a_source_that_sends_too_much_is_cut_off(tmp_path: Path) -> None:
    def endless(_digest: str) -> Iterator[bytes]:
        while True:
            yield b"\0" * 1000

    cache = CodeCache(tmp_path, endless, max_package_bytes=10_000)
    with pytest.raises(CodeTooLarge):
        cache.ensure(sha(b"whatever"))
    assert list(tmp_path.iterdir()) == []


def test_concurrent_callers_of_one_digest_share_one_fetch(tmp_path: Path) -> None:
    data = os.urandom(5000)
    source = Source(data)
    source.gate.clear()  # hold the fetch until every caller is waiting
    cache = CodeCache(tmp_path, source)
    results: list[Path] = []
    started = threading.Barrier(9)

    def caller() -> None:
        started.wait()
        results.append(cache.ensure(sha(data)))

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    # Every caller has passed the barrier; give the fetch's gate to them all at once.
    source.gate.set()
    for t in threads:
        t.join(30)
    assert len(results) == 8 and len(set(results)) == 1
    assert results[0].read_bytes() == data
    assert source.calls == [sha(data)]
    assert cache.fetches == 1


def test_waiters_of_a_failed_fetch_get_an_error_of_their_own(tmp_path: Path) -> None:
    gate = threading.Event()
    calls: list[str] = []

    def bad(digest: str) -> Iterator[bytes]:
        calls.append(digest)
        assert gate.wait(30)
        yield b"not the package"

    cache = CodeCache(tmp_path, bad)
    digest = sha(b"the package")
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            cache.ensure(digest)
        except LaminaError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(4)]
    for t in threads:
        t.start()
    while len(calls) < 1:
        threading.Event().wait(0.01)
    gate.set()
    for t in threads:
        t.join(30)
    assert len(errors) == 4 and len({id(e) for e in errors}) == 4
    assert all(isinstance(e, CodeFetchError) for e in errors)
    assert len(calls) <= 4  # waiters that came after the failure fetch again; never in parallel


def test_different_digests_fetch_in_parallel(tmp_path: Path) -> None:
    a, b = b"package a", b"package b"
    both_inside = threading.Barrier(2, timeout=30)

    def fetch(digest: str) -> bytes:
        both_inside.wait()  # deadlocks (and times out) if fetches were serialised
        return a if digest == sha(a) else b

    cache = CodeCache(tmp_path, fetch)
    threads = [threading.Thread(target=cache.ensure, args=(sha(p),)) for p in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert cache.has(sha(a)) and cache.has(sha(b))


def test_least_recently_used_packages_are_evicted_past_the_bound(tmp_path: Path) -> None:
    packages = [bytes([i]) * 100 for i in range(4)]
    evicted: list[str] = []
    cache = CodeCache(tmp_path, Source(*packages), max_bytes=250, on_evict=evicted.append)
    cache.ensure(sha(packages[0]))
    cache.ensure(sha(packages[1]))
    cache.ensure(sha(packages[0]))  # 0 is now more recent than 1
    cache.ensure(sha(packages[2]))  # 300 bytes > 250: the oldest (1) goes
    assert evicted == [sha(packages[1])]
    assert [e.sha256 for e in cache.entries()] == [sha(packages[0]), sha(packages[2])]
    assert not (tmp_path / f"{sha(packages[1])}.zip").exists()
    assert cache.size == 200


def test_packages_in_use_are_never_evicted(tmp_path: Path) -> None:
    packages = [bytes([i]) * 100 for i in range(4)]
    in_use = {sha(packages[0]), sha(packages[1])}
    cache = CodeCache(tmp_path, Source(*packages), max_bytes=150, protect=lambda: in_use)
    for p in packages[:3]:
        cache.ensure(sha(p))
    # All three are kept: two are in use and the newest was just asked for.
    assert cache.size == 300
    in_use.clear()  # their environments were reclaimed
    cache.ensure(sha(packages[3]))
    assert [e.sha256 for e in cache.entries()] == [sha(packages[3])]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{sha(packages[3])}.zip"]


def test_a_restarted_cache_knows_its_files_in_lru_order_and_drops_temps(tmp_path: Path) -> None:
    old, new = b"old package", b"new package"
    for i, data in enumerate((old, new)):
        path = tmp_path / f"{sha(data)}.zip"
        path.write_bytes(data)
        os.utime(path, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / ".tmp-crashed").write_bytes(b"half")
    source = Source()
    cache = CodeCache(tmp_path, source)
    assert [e.sha256 for e in cache.entries()] == [sha(old), sha(new)]
    assert not (tmp_path / ".tmp-crashed").exists()
    assert cache.ensure(sha(old)).read_bytes() == old
    assert source.calls == []


def test_a_cached_file_deleted_behind_the_cache_is_fetched_again(tmp_path: Path) -> None:
    data = b"some package"
    source = Source(data)
    cache = CodeCache(tmp_path, source)
    cache.ensure(sha(data)).unlink()
    assert cache.ensure(sha(data)).read_bytes() == data
    assert source.calls == [sha(data), sha(data)]


def test_eviction_plan_takes_the_oldest_unprotected_until_it_fits() -> None:
    entries = [CacheEntry("a", 40), CacheEntry("b", 40), CacheEntry("c", 40), CacheEntry("d", 40)]
    assert plan_eviction(entries, 100, set()) == ["a", "b"]
    assert plan_eviction(entries, 100, {"a"}) == ["b", "c"]
    assert plan_eviction(entries, 160, set()) == []
    assert plan_eviction(entries, 0, {"a", "b", "c", "d"}) == []
    assert plan_eviction(entries, 10, {"d"}) == ["a", "b", "c"]


def test_a_stream_cut_short_is_closed(tmp_path: Path) -> None:
    closed: list[bool] = []

    def endless(_digest: str) -> Iterator[bytes]:
        try:
            while True:
                yield b"\0" * 1000
        finally:
            closed.append(True)  # where a source releases its connection

    with pytest.raises(CodeTooLarge):
        CodeCache(tmp_path, endless, max_package_bytes=5000).ensure(sha(b"x"))
    assert closed == [True]
