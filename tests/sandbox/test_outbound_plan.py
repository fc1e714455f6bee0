"""The outbound network's pure decisions: names, addresses, subnets, ruleset."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from lamina.sandbox.outbound import (
    LINKS_PER_SERVER,
    POOL,
    SLOTS,
    free_slots,
    link_addresses,
    link_name,
    ruleset,
    slot_subnet,
    slot_tag,
    stale_tables,
)


def test_link_names_fit_the_kernels_15_characters() -> None:
    tag = slot_tag(SLOTS - 1)
    assert len(tag) == 3
    assert len(link_name(tag, LINKS_PER_SERVER - 1)) <= 15
    assert link_name(tag, 0) != link_name(tag, 1)


def test_each_slot_is_its_own_slash_30() -> None:
    subnet = IPv4Network("10.130.64.0/18")
    assert link_addresses(subnet, 0) == (IPv4Address("10.130.64.1"), IPv4Address("10.130.64.2"))
    host, env = link_addresses(subnet, LINKS_PER_SERVER - 1)
    assert env in subnet and host in subnet
    assert int(env) == int(subnet.broadcast_address) - 1


def test_slots_are_the_pools_slash_18s_and_avoid_every_network_in_use() -> None:
    assert slot_subnet(0) == next(POOL.subnets(new_prefix=18))
    assert slot_subnet(SLOTS - 1).broadcast_address == POOL.broadcast_address
    assert list(free_slots([], 5))[:2] == [5, 6]
    used = [IPv4Network("10.128.10.0/24")]  # inside slot 0
    assert 0 not in list(free_slots(used, 0)) and next(free_slots(used, 0)) == 1
    assert list(free_slots([IPv4Network("10.0.0.0/8")], 7)) == []


def test_only_tables_of_unheld_slots_are_stale() -> None:
    listing = "table inet lamina_n00a\ntable inet lamina_n014\ntable ip nat\ntable inet other\n"
    assert stale_tables(listing, lambda slot: slot == 20) == ["lamina_n00a"]


def test_ruleset_drops_traffic_to_the_host_and_between_environments() -> None:
    text = ruleset("lamina_s1", "ab12", IPv4Network("10.128.0.0/18"))
    assert "table inet lamina_s1" in text
    assert 'iifname "lmab12*" drop' in text  # input: nothing to the host itself
    assert 'iifname "lmab12*" oifname "lm*" drop' in text  # no environment to another
    assert 'ip saddr 10.128.0.0/18 oifname != "lmab12*" masquerade' in text
