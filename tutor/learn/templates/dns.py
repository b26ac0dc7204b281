"""DNS: which MX the sender tried first, and which lookup gave it the address it connected to."""

from __future__ import annotations

from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, Question, RfcRef
from tutor.learn.templates._base import Option, Template, single
from tutor.trace import DnsAnswer, Event, Side, Stage, TcpConnect


def _connections_in_words(choice: story.MxChoice) -> str:
    tried = list(dict.fromkeys((c.exchange, c.ok) for c in choice.connections))
    words = [f"{exchange} ({'connected' if ok else 'failed'})" for exchange, ok in tried]
    return "It tried " + ", then ".join(words) + "."


def _mx_first(events: Sequence[Event], qid: str) -> Question | None:
    """The MTA got MX 10 mx1 and 20 mx2. Which did it connect to first?"""
    for choice in story.mx_choices(events):
        preference: dict[str, int] = {}
        for record in choice.records:
            preference[record.exchange] = min(
                record.preference, preference.get(record.exchange, record.preference)
            )
        first = choice.first_connected
        if len(preference) < 2 or first not in preference:
            continue
        lowest = min(preference.values())
        if preference[first] != lowest:
            continue  # the sender skipped the best MX (it is one itself): not this question
        listed_first = choice.records[0].exchange
        options = [Option(first, True, why="the lowest preference number is tried first")]
        for exchange, value in preference.items():
            if exchange == first or value == lowest:
                continue  # an equal preference is picked at random (§5.1): no distractor
            wrong = "that a higher preference number is more preferred: the lowest is tried first"
            if exchange == listed_first:
                wrong = (
                    "that the sender takes the records in the order the DNS answer lists them: "
                    "it sorts them by preference, lowest number first"
                )
            options.append(Option(exchange, misconception=wrong))
        answer = single(options)
        if answer is None:
            continue
        records = ", ".join(f"MX {r.preference} {r.exchange}" for r in choice.records)
        tied = [x for x, v in preference.items() if v == lowest and x != first]
        tie = (
            f" {first} shares preference {lowest} with {', '.join(tied)}: among equals the "
            "sender picks at random to spread the load."
            if tied
            else ""
        )
        return Question(
            qid,
            f"{choice.host} asked the DNS for the MX records of {choice.domain} and got, in this "
            f"order: {records}. Which exchange did it connect to first?",
            answer,
            Explanation(
                "A sender sorts the MX records by preference, lowest number first, whatever order "
                "the answer lists them in, and moves to the next only when one cannot take the "
                f"message. {_connections_in_words(choice)}{tie}",
                (RfcRef(5321, "5.1"),),
            ),
        )
    return None


def _addresses(answer: DnsAnswer) -> tuple[str, ...]:
    return tuple(text.split()[-1] for text in answer.answer if len(text.split()) >= 5)


def _reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


def _mx_address(events: Sequence[Event], qid: str) -> Question | None:
    """The MX record named a host; which lookup gave the sender the address it connected to?"""
    for choice in story.mx_choices(events):
        if not choice.records or not choice.connections:
            continue
        connection = choice.connections[0]
        connect = next(
            (e for e in events if isinstance(e, TcpConnect) and e.seq == connection.seq), None
        )
        if connect is None:
            continue
        address = connect.dst.rsplit(":", 1)[0].strip("[]")
        lookups = [
            e
            for e in events
            if isinstance(e, DnsAnswer)
            and e.side == Side.CLIENT
            and e.host == choice.host
            and choice.seq < e.seq < connection.seq
            and e.qname.lower().rstrip(".") == connection.exchange
        ]
        found = next(
            (e for e in lookups if e.qtype in ("A", "AAAA") and address in _addresses(e)), None
        )
        if found is None:
            continue
        exchange, ipv6 = connection.exchange, ":" in address
        other_type = "A" if found.qtype == "AAAA" else "AAAA"
        other = next((e for e in lookups if e.qtype == other_type), None)
        if other is not None and not other.answer:
            other_wrong = (
                f"that the address came from {other_type}: that lookup came back empty here, so "
                f"the sender used the {found.qtype} record"
            )
        else:
            other_wrong = (
                f"that {other_type} gave it: {other_type} records hold "
                f"{'IPv4' if other_type == 'A' else 'IPv6'} addresses, and {address} is an "
                f"{'IPv6' if ipv6 else 'IPv4'} address"
            )
        options = [
            Option(f"the {found.qtype} record of {exchange}", True),
            Option(
                f"the MX record of {choice.domain}",
                misconception=f"that the MX record holds the address: it names a host "
                f"({exchange}), whose address the sender looks up next",
            ),
            Option(f"the {other_type} record of {exchange}", misconception=other_wrong),
        ]
        if not ipv6:
            options.append(
                Option(
                    f"the PTR record of {_reverse_name(address)}",
                    misconception="that the sender looks the address up backwards: a PTR record "
                    "maps an address back to a name; to find an address it asks for A or AAAA",
                )
            )
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"The MX records of {choice.domain} sent {choice.host} to {exchange}, and it then "
            f"connected to {address}. Which DNS record gave it that address?",
            answer,
            Explanation(
                "An MX record names the host that takes the mail, not its address: the sender "
                "then asks for that host's address records, A for IPv4 and AAAA for IPv6, and "
                f"connects to an address they give. Here: MX {choice.domain} → {exchange}, then "
                f"{found.qtype} {exchange} → {address}.",
                (RfcRef(5321, "5.1"),),
            ),
        )
    return None


TEMPLATES = (
    Template("mx-first-connect", Stage.DNS, "which MX the sender tried first", _mx_first),
    Template(
        "mx-address-lookup",
        Stage.DNS,
        "which DNS record gave the sender the MX's address",
        _mx_address,
    ),
)
