"""story folds for generated questions: EHLO offers, host roles, SPF checks, DMARC policy."""

from __future__ import annotations

from tutor import story


async def test_ehlo_offers_list_each_servers_extensions_before_and_after_tls(start_run) -> None:
    async with start_run("hello") as run:
        await run.finish()
    offers = story.ehlo_offers(list(run.trace.events))
    submission = [o for o in offers if o.server == "smtp.example.org"]
    mx = [o for o in offers if o.server == "mx1.example.net"]
    assert [o.encrypted for o in submission] == [False, True]
    assert submission[0].offers("STARTTLS") and not submission[0].offers("AUTH")
    assert submission[1].params("AUTH") == ("PLAIN", "LOGIN")  # login only inside TLS
    assert [o.offers("STARTTLS") for o in mx] == [True, False]  # never offered twice
    assert mx[0].params("SIZE") == ("10240000",)
    assert mx[0].params("DSN") is None
    assert mx[0].command == "EHLO smtp.example.org" and mx[0].client == "smtp.example.org"


async def test_hosts_carry_the_roles_the_scenario_gave_them(start_run) -> None:
    async with start_run("hello") as run:
        await run.finish()
    events = list(run.trace.events)
    roles = story.host_roles(events)
    assert roles["laptop.example.org"] == story.Role.CLIENT
    assert roles["smtp.example.org"] == story.Role.OUTBOUND
    assert story.receiving_hosts(events) == {"mx1.example.net", "mx2.example.net"}
    assert story.world_hosts([]) == ()


async def test_spf_check_reads_the_identity_the_record_and_the_deciding_term(start_run) -> None:
    async with start_run("spf-fail") as run:
        await run.finish()
    checks = [story.spf_check(v) for v in story.verdicts(list(run.trace.events), "spf")]
    helo, mail_from = checks
    assert helo is not None and mail_from is not None
    assert (helo.identity, helo.sender, helo.record, helo.result) == (
        "helo",
        "postmaster@smtp.example.com",
        "",
        "none",
    )
    assert (mail_from.identity, mail_from.sender, mail_from.domain) == (
        "mailfrom",
        "alice@example.org",
        "example.org",
    )
    assert mail_from.record.startswith("v=spf1 ip4:") and mail_from.record.endswith(" -all")
    assert (mail_from.decided_by, mail_from.result) == ("-all", "fail")


async def test_dmarc_policy_names_the_tag_that_applied_and_why(start_run) -> None:
    async with start_run("dmarc-quarantine") as run:
        await run.finish()
    verdicts = story.verdicts(list(run.trace.events))
    (dmarc,) = [v for v in verdicts if v.check == "dmarc"]
    policy = story.dmarc_policy(dmarc)
    assert policy is not None
    assert (policy.tag, policy.policy) == ("sp", "quarantine")
    assert "pay.example.org is a subdomain of example.org" in policy.why
    assert all(story.dmarc_policy(v) is None for v in verdicts if v.check != "dmarc")
    assert all(story.spf_check(v) is None for v in verdicts if v.check != "spf")
