"""Scenario files: shipped ones load; malformed ones name file, line and problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tutor.scenario import (
    WHAT_IFS,
    Check,
    Fault,
    Role,
    ScenarioError,
    apply_what_ifs,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
)
from tutor.trace import Outcome

HELLO = (Path(__file__).parent.parent / "lessons" / "scenarios" / "hello.toml").read_text()


def parse(text: str, name: str = "bad.toml") -> None:
    parse_scenario(text, Path(name))


def test_every_shipped_scenario_loads_with_an_outcome_to_expect() -> None:
    names = {p.stem for p in shipped_scenarios()}
    assert {"hello", "mx-fallback", "no-starttls", "unknown-user", "too-big"} <= names
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        assert scenario.expect.outcomes, path
        assert scenario.description


def test_hello_has_one_client_one_outbound_and_two_mx_hosts() -> None:
    hello = load_scenario("hello")
    assert hello.client.name == "laptop.example.org"
    assert hello.outbound.name == "smtp.example.org"
    assert [h.name for h in hello.hosts_with_role(Role.MX)] == [
        "mx1.example.net",
        "mx2.example.net",
    ]
    # addresses are assigned in declaration order after the DNS server's
    assert hello.dns_address == "127.0.0.10"
    assert [h.address for h in hello.hosts] == [f"127.0.0.{n}" for n in range(11, 15)]


def test_a_path_works_wherever_a_name_does(tmp_path: Path) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text(HELLO.replace('name = "hello"', 'name = "mine"'))
    assert load_scenario(str(mine)).name == "mine"


def test_unknown_scenario_name_suggests_the_closest() -> None:
    with pytest.raises(ScenarioError, match=r"did you mean 'hello'"):
        load_scenario("helo")


def test_toml_syntax_error_names_file_and_line() -> None:
    text = HELLO.replace('role = "mx"', 'role = "mx', 1)
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == 'role = "mx')
    assert str(caught.value).startswith(f"bad.toml:{line}: not valid TOML")


def test_unknown_key_names_its_line_and_suggests_the_right_key() -> None:
    text = HELLO.replace('domains = ["example.net"]', 'domain = ["example.net"]', 1)
    with pytest.raises(ScenarioError) as caught:
        parse(text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("domain ="))
    message = str(caught.value)
    assert message.startswith(f"bad.toml:{line}: host[2].domain: unknown key")
    assert "did you mean 'domains'" in message


def test_unknown_role_and_fault_list_the_valid_ones() -> None:
    with pytest.raises(ScenarioError, match=r"unknown role 'mta'; one of client, outbound"):
        parse(HELLO.replace('role = "outbound"', 'role = "mta"'))
    with pytest.raises(ScenarioError, match=r"unknown fault 'offline'; one of down"):
        parse(HELLO.replace('role = "mx"', 'role = "mx"\nfaults = ["offline"]', 1))


def test_non_loopback_address_is_refused() -> None:
    text = HELLO.replace('role = "mx"', 'role = "mx"\naddress = "192.0.2.7"', 1)
    with pytest.raises(ScenarioError, match=r"'192.0.2.7' is not a loopback address"):
        parse(text)


def test_expectation_must_name_a_recipient_of_the_message() -> None:
    with pytest.raises(ScenarioError, match=r"expect.delivered: 'eve@example.net' is not in"):
        parse(HELLO.replace('delivered = ["bob@example.net"]', 'delivered = ["eve@example.net"]'))


def test_sender_needs_a_password_to_submit() -> None:
    with pytest.raises(ScenarioError, match=r"needs a \[\[user\]\] with a password"):
        parse(HELLO.replace('password = "wonderland"', ""))


def test_what_ifs_change_the_world_and_the_expectation() -> None:
    hello = load_scenario("hello")
    assert {w.key for w in WHAT_IFS} >= {"mx-down", "no-starttls", "unknown-user", "too-big"}
    down = apply_what_ifs(hello, {"mx-down"})
    assert Fault.DOWN in down.host("mx1.example.net").faults
    assert Fault.DOWN not in down.host("mx2.example.net").faults
    ghost = apply_what_ifs(hello, {"unknown-user"})
    assert ghost.message.recipients == ("bob@example.net", "nobody@example.net")
    assert ghost.expect.outcomes["nobody@example.net"] is Outcome.BOUNCED


def test_what_ifs_cover_every_kind_of_trouble_the_engine_can_make() -> None:
    hello = load_scenario("hello")
    greet = apply_what_ifs(hello, {"greet-421"})
    assert Fault.GREET_421 in greet.host("mx1.example.net").faults
    assert Fault.GREET_421 not in greet.host("mx2.example.net").faults
    grey = apply_what_ifs(hello, {"greylist"})
    assert all(
        Check.GREYLIST in grey.host(n).checks for n in ("mx1.example.net", "mx2.example.net")
    )
    assert grey.timing.greylist["delay"] == 240
    full = apply_what_ifs(hello, {"mailbox-full"})
    mx1 = full.host("mx1.example.net")
    assert Fault.MAILBOX_FULL in mx1.faults and mx1.fault_users == ("bob@example.net",)
    assert mx1.fault_clears_after == 2 * 3600
    down = apply_what_ifs(hello, {"all-mx-down"})
    assert all(Fault.DOWN in down.host(n).faults for n in ("mx1.example.net", "mx2.example.net"))
    assert down.expect.outcomes == {"bob@example.net": Outcome.BOUNCED}


def test_a_what_if_that_cannot_tell_the_ending_leaves_it_unjudged() -> None:
    # hello has two MX records: with the first down, the second still delivers.
    assert apply_what_ifs(load_scenario("hello"), {"mx-down"}).expect.outcomes == {
        "bob@example.net": Outcome.DELIVERED
    }
    # spf-pass has one, for good: five days of retries, then a DSN.
    assert apply_what_ifs(load_scenario("spf-pass"), {"mx-down"}).expect.outcomes == {
        "bob@example.net": Outcome.BOUNCED
    }
    # mailbox-full's one MX comes back after two hours: its own story, not the what-if's.
    assert apply_what_ifs(load_scenario("mailbox-full"), {"mx-down"}).expect.outcomes == {}
    # dnsbl-listed blocks the sender before any mailbox lookup: no 550 for the ghost.
    ghost = apply_what_ifs(load_scenario("dnsbl-listed"), {"unknown-user"})
    assert "nobody@example.net" not in ghost.expect.outcomes
    # mx-down's hosts never come back, so a quota on them never clears either.
    assert apply_what_ifs(load_scenario("mx-down"), {"mailbox-full"}).expect.outcomes == {}


def test_what_ifs_trouble_the_recipients_mx_not_the_senders_provider() -> None:
    # In spf-fail, smtp.example.org is an MX too, but of example.org: it only gets the DSN.
    grey = apply_what_ifs(load_scenario("spf-fail"), {"greylist", "no-starttls"})
    bobs_mx, alices_provider = grey.host("mx.example.net"), grey.host("smtp.example.org")
    assert Check.GREYLIST in bobs_mx.checks and Fault.NO_STARTTLS in bobs_mx.faults
    assert Check.GREYLIST not in alices_provider.checks
    assert Fault.NO_STARTTLS not in alices_provider.faults


def test_a_folder_named_like_a_scenario_does_not_hide_the_shipped_one(tmp_path, monkeypatch):
    from tutor.scenario import find_scenario, scenario_dir

    (tmp_path / "mx-down").mkdir()  # e.g. `run mx-down --keep mx-down`
    monkeypatch.chdir(tmp_path)
    assert find_scenario("mx-down") == scenario_dir() / "mx-down.toml"
