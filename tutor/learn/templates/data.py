"""DATA: the reply that ended the message's transfer, and who added the top Received: header."""

from __future__ import annotations

from collections.abc import Sequence

from tutor import story
from tutor.learn.questions import Explanation, Question, RfcRef
from tutor.learn.templates._base import (
    Option,
    Template,
    delivery_hops,
    plural,
    reply_class,
    reply_mix_up,
    single,
)
from tutor.trace import Delivery, Event, Stage

# Replies a server could give after the final dot, one per class (Postfix's wording).
_AFTER_DOT = {
    "2": "250 2.0.0 Ok: queued as 4F2A81C0D5E",
    "4": "451 4.3.0 Error: queue file write error",
    "5": "554 5.7.1 Message rejected by content policy",
}


def _data_reply(events: Sequence[Event], qid: str) -> Question | None:
    """What did the MX answer after the final dot of the message?"""
    every = story.exchanges(events)
    contents = [e for e in every if e.prompt is story.Prompt.CONTENT]
    hops = delivery_hops(events)
    # The hop to the MX if the message got that far; while its reply is still to come, wait.
    on_hops = [e for e in contents if e.session in hops]
    pool = [e for e in on_hops or contents if e.reply]
    if not pool:
        return None
    exchange = next((e for e in pool if reply_class(e.reply[0]) != "2"), pool[0])
    client, server = exchange.asked_by, exchange.answered_by
    real = " ".join(exchange.reply)
    go_ahead = next(
        (
            " ".join(e.reply)
            for e in every
            if e.session == exchange.session and e.verb == "DATA" and e.code == 354
        ),
        "354 End data with <CR><LF>.<CR><LF>",
    )
    options = [
        Option(real, True, why=f"{server}'s very words"),
        Option(
            go_ahead,
            misconception="that 354 answers the message: 354 is the go-ahead to DATA, before "
            "the content; the answer to the content comes after its final dot",
        ),
        Option(
            "221 2.0.0 Bye",
            misconception="that the server says goodbye here: 221 answers QUIT, which the "
            "client sends only after the message has been answered",
        ),
    ]
    for klass, line in _AFTER_DOT.items():
        if klass != reply_class(real) and len(options) < 4:
            options.append(Option(line, misconception=reply_mix_up(real, line, server)))
    answer = single(options)
    if answer is None:
        return None
    if reply_class(real) == "2":
        meaning = f"With it {server} took responsibility for the message."
    else:
        meaning = (
            f"With it {server} refused the whole message after reading it: the responsibility "
            f"stays with {client}, which must retry (4xx) or tell the author (5xx)."
        )
    return Question(
        qid,
        f"{client} sent the message to {server} and ended it with a line holding a single dot. "
        "Which reply came back?",
        answer,
        Explanation(
            "DATA is answered twice: 354 invites the content, and after the final dot the server "
            "processes the whole transaction and answers once more, for the message as a "
            f"whole. {server} answered `{real}`. {meaning}",
            (RfcRef(5321, "4.1.1.4"), RfcRef(5321, "4.2.5")),
        ),
    )


def _received_top(events: Sequence[Event], qid: str) -> Question | None:
    """Which host added the Received: header at the top of the delivered message?"""
    for at, delivery in enumerate(events):
        if not isinstance(delivery, Delivery):
            continue
        if any(h.replace(" ", "").lower() == "return-path:<>" for h in delivery.headers_added):
            continue  # a DSN coming back: a message of its own, not the one that travelled
        state = story.message_state(events[: at + 1])
        if state is None:
            continue
        received = [h for h in state.headers if h.name.lower() == "received"]
        adders = list(dict.fromkeys(h.added_by for h in received if h.added_by))
        if len(received) < 2 or len(adders) < 2 or received[0].added_by != adders[0]:
            continue
        top, author = adders[0], state.hops[0]
        options = [Option(top, True, why="each server puts its Received: line on top")]
        for host in adders[1:]:
            options.append(
                Option(
                    host,
                    misconception="that the top Received: line is the oldest: each server "
                    "prepends its own, so the top one was added last, by the final hop",
                )
            )
        if author not in adders:
            options.append(
                Option(
                    author,
                    misconception="that the author's mail program adds a Received: line: only "
                    "a server that receives the message does",
                )
            )
        answer = single(options)
        if answer is None:
            continue
        return Question(
            qid,
            f"{delivery.recipient}'s copy of the message has "
            f"{plural(len(received), 'Received: header field')}. Which host added the one at "
            "the top?",
            answer,
            Explanation(
                "Every SMTP server that takes a message in prepends a Received: line saying "
                "from whom, by whom and when, and never touches the ones already there. Read "
                "from the top down, they go from the last hop back to the first: here "
                f"{' ← '.join(adders)}.",
                (RfcRef(5321, "4.4"), RfcRef(5322, "3.6.7")),
            ),
        )
    return None


TEMPLATES = (
    Template(
        "data-final-reply", Stage.DATA, "the reply after the message's final dot", _data_reply
    ),
    Template(
        "received-top", Stage.DATA, "which host added the top Received: header", _received_top
    ),
)
