"""The openspf RFC 7208 test suite (pyspf 2.0.14's test/rfc7208-tests.yml), every case.

Each case runs through check_host() against the case's own zonedata (DictLookup). The suite's
simulated DNS timeouts are answered at once with rcode TIMEOUT, so no case needs a real wait
and none is skipped. A case may list several acceptable results; an ``explanation`` key is
checked against the fail explanation, with the suite driver's default explanation "DEFAULT".
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tutor.policy.dnsapi import DictLookup
from tutor.policy.spf import check_mail_from

yaml = pytest.importorskip("yaml")

SUITE = Path(__file__).parent / "data" / "rfc7208-tests.yml"


def _cases() -> list[Any]:
    cases = []
    with SUITE.open("rb") as stream:
        for scenario in yaml.safe_load_all(stream):
            for name, case in scenario["tests"].items():
                cases.append(pytest.param(scenario["zonedata"], case, id=name))
    return cases


CASES = _cases()


def test_the_suite_has_every_case_of_the_2014_release() -> None:
    assert len(CASES) == 203


@pytest.mark.parametrize(("zonedata", "case"), CASES)
async def test_rfc7208_suite_case(zonedata: dict[str, Any], case: dict[str, Any]) -> None:
    result = await check_mail_from(
        case["host"],
        case["mailfrom"],
        helo=case["helo"],
        lookup=DictLookup(zonedata),
        receiver=case.get("receiver", "unknown"),
        default_explanation="DEFAULT",
    )
    accepted = case["result"] if isinstance(case["result"], list) else [case["result"]]
    steps = "\n".join(result.reasons)
    assert result.result in accepted, f"{case.get('spec')}: {case.get('description', '')}\n{steps}"
    if "explanation" in case:
        assert result.explanation == case["explanation"], steps
