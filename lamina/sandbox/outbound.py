"""Outbound traffic for namespaced environments: one veth pair each, and the host's NAT.

Each server holds one **slot**: a /18 of ``10.128.0.0/9`` that overlaps no address or
route of the host, claimed with an ``flock`` on ``/run/lamina/net/<slot>.lock`` for the
server's lifetime (the kernel releases it when the server dies, even by SIGKILL), so two
servers, or two sandboxes in one process, never share one. Each environment's namespace
gets ``eth0``, one end of a veth pair whose other end (``lm<slot><index>``) stays on the
host; the pair is a /30 of the slot. One nftables table per slot (``inet
lamina_n<slot>``; a table whose slot is not locked is a dead server's, removed at the
next start) then:

* masquerades the environments' traffic leaving by any other interface (outbound works,
  as for a Lambda function outside a VPC);
* drops everything an environment sends to the host itself (the host-side veth address,
  the host's other addresses and so its services) except replies to connections the host
  opened;
* drops forwarding between two environments' links (of any Lamina server) and anything
  the outside starts towards an environment.

The links are made with rtnetlink requests (:mod:`lamina.sandbox.rtnetlink`) in the
background, when a namespace is pre-made (:mod:`lamina.sandbox.netns`), so a cold start
does not wait for them; ``nft`` (Debian's nftables) loads the table once at start and
``ip`` (iproute2) only lists the host's addresses then.
The decisions (names, addresses, the ruleset) are pure functions, tested without root.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.rtnetlink import Netlink

log = logging.getLogger("lamina.sandbox")

POOL = IPv4Network("10.128.0.0/9")
SERVER_PREFIX = 18  # 4,096 environments of 4 addresses each per server
LINKS_PER_SERVER = 1 << (32 - SERVER_PREFIX - 2)
LINK_PREFIX = "lm"


SLOTS = 1 << (SERVER_PREFIX - POOL.prefixlen)  # 512 /18s
LOCK_DIR = Path("/run/lamina/net")


def slot_tag(slot: int) -> str:
    """Three hex digits naming one slot's links and table."""
    return f"{slot:03x}"


def slot_subnet(slot: int) -> IPv4Network:
    return IPv4Network((int(POOL.network_address) + (slot << (32 - SERVER_PREFIX)), SERVER_PREFIX))


def link_name(tag: str, index: int) -> str:
    """The host-side veth of environment slot ``index`` (at most 10 characters)."""
    return f"{LINK_PREFIX}{tag}{index:x}"


def link_addresses(subnet: IPv4Network, index: int) -> tuple[IPv4Address, IPv4Address]:
    """(host side, environment side) of slot ``index``: the two usable hosts of a /30."""
    base = int(subnet.network_address) + 4 * index
    return IPv4Address(base + 1), IPv4Address(base + 2)


def free_slots(used: list[IPv4Network], start: int) -> Iterator[int]:
    """Slots from ``start`` on (wrapping) whose /18 overlaps nothing in use (pure).

    Lazy: the server takes the first it can lock, and checking all 512 slots against every
    address of a busy host cost ~70,000 ``overlaps`` calls at each start.
    """
    for i in range(SLOTS):
        slot = (start + i) % SLOTS
        subnet = slot_subnet(slot)
        if not any(subnet.overlaps(net) for net in used):
            yield slot


def table_name(slot: int) -> str:
    return f"lamina_n{slot_tag(slot)}"


def stale_tables(listing: str, held: Callable[[int], bool]) -> list[str]:
    """Tables of slots no live server holds, from ``nft list tables`` output (pure)."""
    out = []
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[:2] == ["table", "inet"]:
            m = re.fullmatch(r"lamina_n([0-9a-f]{3})", parts[2])
            if m and not held(int(m.group(1), 16)):
                out.append(parts[2])
    return out


def ruleset(table: str, tag: str, subnet: IPv4Network) -> str:
    """The nftables script for one server (``nft -f -``)."""
    own = f'"{LINK_PREFIX}{tag}*"'
    every = f'"{LINK_PREFIX}*"'
    return f"""table inet {table} {{
    chain input {{
        type filter hook input priority filter; policy accept;
        iifname {own} ct state established,related accept
        iifname {own} drop
    }}
    chain forward {{
        type filter hook forward priority filter; policy accept;
        iifname {own} oifname {every} drop
        oifname {own} ct state established,related accept
        oifname {own} drop
    }}
    chain postrouting {{
        type nat hook postrouting priority srcnat; policy accept;
        ip saddr {subnet} oifname != {own} masquerade
    }}
}}
"""


def _run(argv: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _used_networks() -> list[IPv4Network]:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True, check=False
    ).stdout
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(IPv4Network(parts[parts.index("inet") + 1], strict=False))
    routes = subprocess.run(
        ["ip", "-4", "route", "show"], capture_output=True, text=True, check=False
    ).stdout
    for line in routes.splitlines():
        first = line.split(" ", 1)[0]
        if first[0].isdigit():
            nets.append(IPv4Network(first, strict=False))
    return nets


def _lock(slot: int) -> int | None:
    """An fd holding ``slot``'s lock, or None when another server holds it."""
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_DIR / f"{slot_tag(slot)}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _held(slot: int) -> bool:
    fd = _lock(slot)
    if fd is None:
        return True
    os.close(fd)
    return False


class Outbound:
    """One server's veth links and NAT table."""

    def __init__(self) -> None:
        self.slot = -1
        self.tag = ""
        self._lock_fd = -1
        self.subnet: IPv4Network | None = None
        self._lock = threading.Lock()
        self._next = 0
        self._live: set[int] = set()

    def prepare(self) -> None:
        """Pick the subnet, load the ruleset, turn on forwarding; SandboxError if impossible."""
        for tool in ("ip", "nft"):
            if shutil.which(tool) is None:
                raise SandboxError(
                    f"outbound network needs {tool} (Debian: iproute2, nftables); "
                    "install it or set network_outbound=false"
                )
        listing = subprocess.run(
            ["nft", "list", "tables"], capture_output=True, text=True, check=False
        ).stdout
        for stale in stale_tables(listing, _held):
            _run(["nft", "delete", "table", "inet", stale])
        for slot in free_slots(_used_networks(), os.getpid() % SLOTS):
            fd = _lock(slot)
            if fd is not None:
                break
        else:
            raise SandboxError(f"no free /{SERVER_PREFIX} left in {POOL} for environments")
        self.slot, self.tag, self._lock_fd = slot, slot_tag(slot), fd
        subnet = self.subnet = slot_subnet(slot)
        _run(["nft", "-f", "-"], ruleset(table_name(slot), self.tag, subnet))
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        log.info(
            "environments reach the outside network through NAT from %s (slot %s)", subnet, self.tag
        )

    def nft_table(self) -> tuple[str, str] | None:
        """(path of nft, this server's table), for the watchdog to delete after a crash."""
        nft = shutil.which("nft")
        return (nft, table_name(self.slot)) if nft and self.subnet is not None else None

    def allocate(self) -> int:
        with self._lock:
            for _ in range(LINKS_PER_SERVER):
                index, self._next = self._next, (self._next + 1) % LINKS_PER_SERVER
                if index not in self._live:
                    self._live.add(index)
                    return index
        raise SandboxError(f"all {LINKS_PER_SERVER} environment links are in use")

    def release(self, index: int) -> None:
        with self._lock:
            self._live.discard(index)

    def wire_inside(self, index: int, home_netns_fd: int) -> None:
        """In the environment's namespace (worker thread): ``eth0``, its peer sent home."""
        assert self.subnet is not None
        host, env = link_addresses(self.subnet, index)
        with Netlink() as nl:
            nl.add_veth("eth0", link_name(self.tag, index), home_netns_fd)
            nl.add_address("eth0", env, 30)
            nl.set_up("eth0")
            nl.add_default_route(host)

    def wire_outside(self, index: int) -> str:
        """Back home: address the host side and bring it up; returns its name."""
        assert self.subnet is not None
        host, _env = link_addresses(self.subnet, index)
        name = link_name(self.tag, index)
        with Netlink() as nl:
            nl.add_address(name, host, 30)
            nl.set_up(name)
        return name

    def close(self) -> None:
        """Remove the table; the links go with their namespaces."""
        if self.subnet is None:
            return
        table = table_name(self.slot)
        done = subprocess.run(
            ["nft", "delete", "table", "inet", table], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            log.warning("could not remove nftables table %s: %s", table, done.stderr)
        self.subnet = None
        os.close(self._lock_fd)  # the slot is free again
        self._lock_fd = -1
