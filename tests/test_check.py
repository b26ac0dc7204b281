"""`smtp-tutor check spf|dkim|dmarc`: the receiver's evaluators on a learner's own zone files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tutor.cli import main
from tutor.policy.dkim import sign
from tutor.world.sender.dkimkeys import DkimKey, world_key

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "labs" / "examples"

# Several domains in one file, every name absolute under `$ORIGIN .`.
DOMAINS_ZONE = """\
$ORIGIN .
$TTL 300
example.org.          IN TXT "v=spf1 mx include:_spf.provider.example -all"
example.org.          IN MX  10 mail.example.org.
mail.example.org.     IN A   192.0.2.25
moving.example.       IN TXT "v=spf1 ip4:198.51.100.0/24 ~all"
strict.example.       IN TXT "v=spf1 ip4:203.0.113.5 exp=why.strict.example -all"
why.strict.example.   IN TXT "%{i} may not send for %{d}"
broken.example.       IN TXT "v=spf1 ip4:192.0.2.1-all"
bounce.example.org.   IN TXT "v=spf1 a -all"
bounce.example.org.   IN A   192.0.2.27
attacker.example.     IN TXT "v=spf1 ip4:203.0.113.66 -all"
_dmarc.example.org.   IN TXT "v=DMARC1; p=reject"
"""
# A second file: the provider that example.org includes.
PROVIDER_ZONE = """\
$ORIGIN provider.example.
_spf  IN TXT "v=spf1 ip4:198.51.100.64/26 -all"
"""

MESSAGE = (
    b"From: Alice <alice@example.org>\r\n"
    b"To: Bob <bob@example.net>\r\n"
    b"Subject: Lunch on Friday?\r\n"
    b"Date: Fri, 01 Mar 2024 10:00:00 +0000\r\n"
    b"Message-ID: <lunch-1@example.org>\r\n"
    b"\r\n"
    b"Lunch on Friday at noon?\r\n"
)


@pytest.fixture
def zones(tmp_path: Path) -> tuple[Path, Path]:
    domains, provider = tmp_path / "domains.zone", tmp_path / "provider.zone"
    domains.write_text(DOMAINS_ZONE)
    provider.write_text(PROVIDER_ZONE)
    return domains, provider


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> DkimKey:
    return world_key("example.org", "tutor", cache_dir=tmp_path_factory.mktemp("dkim-cache"))


@pytest.fixture
def key_zone(tmp_path: Path, key: DkimKey) -> Path:
    path = tmp_path / "keys.zone"
    path.write_text("$ORIGIN .\n" + key.zone_line(300) + "\n")
    return path


def check(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["check", *(str(a) for a in args)])
    out, err = capsys.readouterr()
    return code, out, err


def check_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> dict:
    code, out, err = check(capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)  # exactly one JSON object: anything else fails to parse


def assert_fits_80_columns(text: str) -> None:
    too_wide = [line for line in text.splitlines() if len(line) > 80]
    assert not too_wide, too_wide


def smtp_tutor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tutor", *(str(a) for a in args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONPATH": str(ROOT)},
    )


# --------------------------------------------------------------------------- spf


@pytest.mark.parametrize(
    ("ip", "sender", "result", "mechanism"),
    [
        ("192.0.2.25", "alice@example.org", "pass", "mx"),
        ("198.51.100.70", "alice@example.org", "pass", "include:_spf.provider.example"),
        ("192.0.2.99", "alice@example.org", "fail", "-all"),
        ("192.0.2.99", "carol@moving.example", "softfail", "~all"),
        ("192.0.2.1", "dave@broken.example", "permerror", ""),
        ("192.0.2.1", "erin@nowhere.example", "none", ""),
    ],
)
def test_spf_result_comes_from_the_records_in_both_zone_files(
    capsys: pytest.CaptureFixture[str],
    zones: tuple[Path, Path],
    ip: str,
    sender: str,
    result: str,
    mechanism: str,
) -> None:
    domains, provider = zones
    report = check_json(
        capsys, "spf", "--ip", ip, "--sender", sender, "--helo", "client.example",
        "--zone", domains, "--zone", provider,
    )  # fmt: skip
    assert (report["check"], report["result"], report["mechanism"]) == ("spf", result, mechanism)
    assert report["header"].startswith(f"Received-SPF: {result} ")
    assert report["steps"][0]["text"].startswith(f"check_host(ip={ip}")


def test_spf_permerror_names_the_broken_term(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    report = check_json(
        capsys, "spf", "--ip", "192.0.2.1", "--sender", "d@broken.example", "--helo", "h",
        "--zone", zones[0],
    )  # fmt: skip
    assert report["result"] == "permerror"
    assert "192.0.2.1-all" in report["problem"]


def test_an_include_whose_zone_file_is_not_given_is_a_permerror(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    report = check_json(
        capsys, "spf", "--ip", "198.51.100.70", "--sender", "alice@example.org", "--helo", "h",
        "--zone", zones[0],
    )  # fmt: skip
    assert report["result"] == "permerror"
    assert "_spf.provider.example does not exist" in report["problem"]


def test_null_sender_is_checked_as_postmaster_at_the_helo_name(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    args = ["spf", "--sender", "", "--helo", "bounce.example.org", "--zone", zones[0]]
    passed = check_json(capsys, *args, "--ip", "192.0.2.27")
    failed = check_json(capsys, *args, "--ip", "192.0.2.28")
    assert passed["sender"] == "postmaster@bounce.example.org"
    assert passed["domain"] == "bounce.example.org"
    assert (passed["result"], failed["result"]) == ("pass", "fail")
    assert passed["identity"] == "mailfrom"  # RFC 7208 §2.4: still the MAIL FROM identity
    code, out, _ = check(capsys, *args, "--ip", "192.0.2.27")
    assert code == 0 and "null reverse-path" in out


def test_spf_json_carries_the_exp_explanation_expanded(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    report = check_json(
        capsys, "spf", "--ip", "192.0.2.99", "--sender", "bob@strict.example", "--helo", "h",
        "--zone", zones[0],
    )  # fmt: skip
    assert report["result"] == "fail"
    assert report["explanation"] == "192.0.2.99 may not send for strict.example"
    assert report["domain"] == "strict.example"


def test_spf_text_report_shows_result_reasoning_and_header_within_80_columns(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    code, out, err = check(
        capsys, "spf", "--ip", "198.51.100.70", "--sender", "alice@example.org",
        "--helo", "mail.example.org", "--zone", zones[0], "--zone", zones[1],
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert "Result: pass (decided by 'include:_spf.provider.example')" in out
    lines = out.splitlines()
    # the include's own evaluation is indented under the include that started it
    include = next(i for i, ln in enumerate(lines) if "evaluating the SPF record of" in ln)
    inner = next(ln for ln in lines[include:] if "DNS TXT _spf.provider.example?" in ln)
    indent = len(lines[include]) - len(lines[include].lstrip())
    assert len(inner) - len(inner.lstrip()) > indent
    assert "\nReceived-SPF: pass (" in out
    assert "\x1b[" not in out
    assert_fits_80_columns(out)


def test_a_fail_is_an_answer_so_the_exit_code_is_still_0(
    capsys: pytest.CaptureFixture[str], zones: tuple[Path, Path]
) -> None:
    code, out, _ = check(
        capsys, "spf", "--ip", "192.0.2.99", "--sender", "a@example.org", "--helo", "h",
        "--zone", zones[0], "--zone", zones[1],
    )  # fmt: skip
    assert code == 0 and "Result: fail (decided by '-all')" in out


def test_origin_lets_a_bind_style_zone_use_at_and_names_outside_it_are_flagged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    zone = tmp_path / "example.com.zone"
    zone.write_text('@ IN TXT "v=spf1 include:_spf.elsewhere.example -all"\n')
    code, out, _ = check(
        capsys, "spf", "--ip", "192.0.2.1", "--sender", "a@example.com", "--helo", "h",
        "--zone", zone, "--origin", "example.com",
    )  # fmt: skip
    assert code == 0
    assert "SPF record of example.com: v=spf1 include:_spf.elsewhere.example -all" in out
    assert "Result: temperror" in out  # REFUSED is a DNS failure, not an answer
    assert "Note: no --zone file holds _spf.elsewhere.example" in out


# --------------------------------------------------------------------------- dkim


def test_dkim_passes_on_a_message_signed_with_the_published_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: DkimKey, key_zone: Path
) -> None:
    message = tmp_path / "signed.eml"
    message.write_bytes(sign(MESSAGE, "example.org", "tutor", key.private_pem))
    report = check_json(capsys, "dkim", "--message", message, "--zone", key_zone)
    assert (report["result"], report["failure"]) == ("pass", "")
    (signature,) = report["signatures"]
    assert signature["domain"] == "example.org" and signature["selector"] == "tutor"
    assert signature["body_hash"]["match"] is True
    assert signature["key"]["name"] == "tutor._domainkey.example.org"
    assert signature["signed_headers"][0] == "from"

    code, out, _ = check(capsys, "dkim", "--message", message, "--zone", key_zone)
    assert code == 0 and "Result: dkim=pass (d=example.org s=tutor)" in out
    assert_fits_80_columns(out)


def test_dkim_on_a_tampered_body_reports_body_hash_mismatch(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: DkimKey, key_zone: Path
) -> None:
    signed = sign(MESSAGE, "example.org", "tutor", key.private_pem)
    message = tmp_path / "tampered.eml"
    message.write_bytes(signed.replace(b"at noon", b"at one"))
    report = check_json(capsys, "dkim", "--message", message, "--zone", key_zone)
    assert (report["result"], report["failure"]) == ("fail", "body hash mismatch")
    body_hash = report["signatures"][0]["body_hash"]
    assert body_hash["match"] is False and body_hash["computed"] != body_hash["claimed"]

    code, out, _ = check(capsys, "dkim", "--message", message, "--zone", key_zone)
    assert code == 0
    assert "Result: dkim=fail (body hash mismatch)" in out
    computed = next(ln for ln in out.splitlines() if "body hash computed" in ln)
    claimed = next(ln for ln in out.splitlines() if "body hash claimed" in ln)
    assert body_hash["computed"] in computed and "MISMATCH" in claimed
    assert_fits_80_columns(out)


def test_dkim_without_the_key_in_any_zone_file_is_missing_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: DkimKey, zones: tuple[Path, Path]
) -> None:
    message = tmp_path / "signed.eml"
    message.write_bytes(sign(MESSAGE, "example.org", "tutor", key.private_pem))
    report = check_json(capsys, "dkim", "--message", message, "--zone", zones[0])
    assert (report["result"], report["failure"]) == ("permerror", "missing key")


def test_dkim_on_an_unsigned_message_is_none(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key_zone: Path
) -> None:
    message = tmp_path / "plain.eml"
    message.write_bytes(MESSAGE)
    report = check_json(capsys, "dkim", "--message", message, "--zone", key_zone)
    assert (report["result"], report["signatures"]) == ("none", [])


# --------------------------------------------------------------------------- dmarc

SPOOFED = (
    b"Return-Path: <mallory@attacker.example>\n"
    b"From: Alice <alice@example.org>\n"
    b"To: bob@example.net\n"
    b"Subject: new bank details\n"
    b"\n"
    b"Please pay the invoice to the new account.\n"
)


def test_dmarc_rejects_a_spoofed_from_under_p_reject(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, zones: tuple[Path, Path]
) -> None:
    message = tmp_path / "spoofed.eml"
    message.write_bytes(SPOOFED)
    args = ["dmarc", "--message", message, "--zone", zones[0], "--ip", "203.0.113.66"]
    report = check_json(capsys, *args)
    assert (report["result"], report["disposition"], report["policy"]) == (
        "fail",
        "reject",
        "reject",
    )
    # SPF passed, but for the spoofer's own domain (from Return-Path): not aligned with From
    assert report["mail_from"] == "mallory@attacker.example"
    assert (report["spf"]["result"], report["spf"]["domain"]) == ("pass", "attacker.example")
    assert report["spf_aligned"] is False and report["dkim"]["result"] == "none"
    assert "dmarc=fail" in report["header"] and "header.from=example.org" in report["header"]

    code, out, _ = check(capsys, *args)
    assert code == 0
    assert "550 5.7.1 rejected by DMARC policy for example.org" in " ".join(out.split())
    assert "\nAuthentication-Results: check.smtp-tutor.invalid; spf=pass" in out
    assert_fits_80_columns(out)


def test_dmarc_passes_when_dkim_aligns_even_though_spf_fails(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    key: DkimKey,
    key_zone: Path,
    zones: tuple[Path, Path],
) -> None:
    message = tmp_path / "signed.eml"
    message.write_bytes(sign(MESSAGE, "example.org", "tutor", key.private_pem))
    report = check_json(
        capsys, "dmarc", "--message", message, "--zone", zones[0], "--zone", zones[1],
        "--zone", key_zone, "--ip", "192.0.2.99", "--sender", "alice@example.org",
        "--helo", "relay.example.net",
    )  # fmt: skip
    assert report["spf"]["result"] == "fail" and report["dkim"]["result"] == "pass"
    assert (report["result"], report["disposition"]) == ("pass", "none")
    assert report["dkim_aligned"] is True and report["aligned_domain"] == "example.org"


def test_dmarc_null_return_path_checks_spf_for_the_helo_name(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, zones: tuple[Path, Path]
) -> None:
    message = tmp_path / "bounce.eml"
    message.write_bytes(b"Return-Path: <>\n" + SPOOFED.split(b"\n", 1)[1])
    report = check_json(
        capsys, "dmarc", "--message", message, "--zone", zones[0], "--ip", "192.0.2.27",
        "--helo", "bounce.example.org",
    )  # fmt: skip
    assert report["mail_from"] == ""
    assert (report["spf"]["result"], report["spf"]["domain"]) == ("pass", "bounce.example.org")
    assert "smtp.helo=bounce.example.org" in report["header"]
    # bounce.example.org and example.org share an organizational domain: relaxed SPF aligns
    assert report["result"] == "pass" and report["spf_aligned"] is True


# --------------------------------------------------------------------------- bad input


def test_bad_zone_file_exits_2_naming_file_and_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zone"
    bad.write_text('$ORIGIN .\nexample.com. IN TXT "v=spf1 -all"\nexample.com. IN A 999.1.1.1\n')
    result = smtp_tutor(
        "check", "spf", "--ip", "192.0.2.1", "--sender", "a@example.com", "--helo", "h",
        "--zone", bad,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.startswith(f"smtp-tutor: {bad}:3: ")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stdout == ""


def test_a_real_run_as_a_program_exits_0_with_the_verdict(zones: tuple[Path, Path]) -> None:
    result = smtp_tutor(
        "check", "spf", "--ip", "192.0.2.99", "--sender", "a@example.org", "--helo", "h",
        "--zone", zones[0], "--zone", zones[1], "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["result"] == "fail"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["spf", "--ip", "192.0.2", "--sender", "a@b.example", "--helo", "h"], "--ip '192.0.2'"),
        (["spf", "--ip", "192.0.2.1", "--sender", "a@b.example", "--helo", "  "], "--helo"),
        (
            [
                "spf",
                "--ip",
                "192.0.2.1",
                "--sender",
                "a@b.example",
                "--helo",
                "h",
                "--origin",
                "a..b",
            ],
            "--origin 'a..b' is not a domain name",
        ),
        (["dkim", "--message", "{tmp}/missing.eml"], "missing.eml: cannot read the message"),
        (["dkim", "--message", "{tmp}/notes.txt"], "notes.txt:1: not a mail message"),
        (["dkim", "--message", "{tmp}/empty.eml"], "empty.eml: empty file"),
        (["dmarc", "--message", "{tmp}/nofrom.eml", "--ip", "192.0.2.1"], "no From: header"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    zones: tuple[Path, Path],
    args: list[str],
    message: str,
) -> None:
    (tmp_path / "notes.txt").write_text("shopping list\n- milk\n")
    (tmp_path / "empty.eml").write_text("")
    (tmp_path / "nofrom.eml").write_text("To: bob@example.net\nSubject: hi\n\nbody\n")
    argv = [a.format(tmp=tmp_path) for a in args] + ["--zone", str(zones[0])]
    code, out, err = check(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith("smtp-tutor: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_or_undecodable_zone_file_is_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    binary = tmp_path / "binary.zone"
    binary.write_bytes(b"$ORIGIN .\n\xff\xfe\n")
    spf = ["spf", "--ip", "192.0.2.1", "--sender", "a@b.example", "--helo", "h"]
    code, _, err = check(capsys, *spf, "--zone", tmp_path / "nope.zone")
    assert code == 2 and "nope.zone: cannot read the zone file" in err
    code, _, err = check(capsys, *spf, "--zone", binary)
    assert code == 2 and f"{binary}:2: not UTF-8" in err


# --------------------------------------------------------------------------- shipped examples


def test_the_shipped_example_files_give_the_results_their_comments_promise(
    capsys: pytest.CaptureFixture[str],
) -> None:
    spf_zones = ["--zone", EXAMPLES / "spf-domains.zone", "--zone", EXAMPLES / "spf-include.zone"]
    report = check_json(
        capsys, "spf", "--ip", "192.0.2.25", "--sender", "alice@example.org",
        "--helo", "mail.example.org", *spf_zones,
    )  # fmt: skip
    assert report["result"] == "pass"
    report = check_json(
        capsys, "dmarc", "--message", EXAMPLES / "spoofed.eml", *spf_zones,
        "--zone", EXAMPLES / "dmarc.zone", "--ip", "203.0.113.66",
    )  # fmt: skip
    assert (report["result"], report["disposition"]) == ("fail", "reject")


@pytest.mark.parametrize(
    ("scenario", "verdict"),
    [("gateway", "Result: dkim=pass"), ("dkim-tamper", "Result: dkim=fail (body hash mismatch)")],
)
def test_a_kept_worlds_zone_file_lets_a_learner_recheck_its_mail_offline(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, scenario: str, verdict: str
) -> None:
    """`run --keep DIR` leaves DIR/world.zone, the zones exactly as served (several domains,
    each with its SOA, DKIM keys published): `check dkim` reaches the world's verdict."""
    kept = tmp_path / "run"
    assert main(["run", scenario, "--plain", "--keep", str(kept)]) == 0
    capsys.readouterr()
    (delivered,) = (kept / "mailboxes" / "bob@example.net" / "new").iterdir()
    code, out, err = check(capsys, "dkim", "--message", delivered, "--zone", kept / "world.zone")
    assert (code, err) == (0, "")
    assert verdict in out
