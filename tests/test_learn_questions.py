"""Questions are graded the same way whoever wrote them: every kind, partial credit, ordering."""

from __future__ import annotations

import itertools
import random
from fractions import Fraction

import pytest

from tutor.learn.questions import (
    Choice,
    Explanation,
    MultipleChoice,
    NumberAnswer,
    OrderItem,
    PutInOrder,
    Question,
    QuestionError,
    QuestionKind,
    ResponseError,
    RfcRef,
    SingleChoice,
    TypeAnswer,
    Verdict,
    grade,
    normalise_text,
)

WHY = Explanation(
    "After STARTTLS the session starts over.\n\nThe client must say EHLO again.",
    (RfcRef(3207, "4.2"),),
)


def ask(answer, *, hints: tuple[str, ...] = ()) -> Question:
    return Question("q-1", "What happens?", answer, WHY, hints)


def starttls_choice() -> SingleChoice:
    return SingleChoice(
        (
            Choice("a", "The client sends EHLO again", correct=True, why="TLS resets state"),
            Choice("b", "The client sends MAIL FROM", misconception="the old EHLO still counts"),
            Choice("c", "The server sends 220 again", misconception="confuses it with a greeting"),
        )
    )


def extensions_choice() -> MultipleChoice:
    return MultipleChoice(
        (
            Choice("size", "SIZE", correct=True),
            Choice("pipelining", "PIPELINING", correct=True),
            Choice("starttls", "STARTTLS", correct=True),
            Choice("helo", "HELO", misconception="HELO is a command, not an extension"),
            Choice("quit", "QUIT", misconception="QUIT is a command every server has"),
        )
    )


def session_order(*texts: str) -> PutInOrder:
    return PutInOrder(tuple(OrderItem(f"i{n}", text) for n, text in enumerate(texts)))


# --------------------------------------------------------------------------- single choice


def test_single_choice_right_pick_scores_one_and_explains_with_the_rfc_last():
    result = grade(ask(starttls_choice()), "a")

    assert (result.score, result.correct, result.kind) == (1.0, True, QuestionKind.SINGLE)
    assert result.summary == "Correct."
    assert result.explanation == (
        "After STARTTLS the session starts over.",
        "The client must say EHLO again.",
        "See RFC 3207 §4.2.",
    )
    assert [m.verdict for m in result.marks] == [
        Verdict.PICKED_RIGHT,
        Verdict.LEFT_OUT,
        Verdict.LEFT_OUT,
    ]
    assert result.marks[0].note == "TLS resets state"
    assert result.misconceptions == ()


def test_single_choice_wrong_pick_scores_zero_and_shows_the_misconception_it_caught():
    result = grade(ask(starttls_choice()), "c")

    assert (result.score, result.correct) == (0.0, False)
    assert result.misconceptions == ("confuses it with a greeting",)
    assert sum(m.points for m in result.marks) == result.fraction == 0
    verdicts = {m.key: m.verdict for m in result.marks}
    assert verdicts == {"a": Verdict.MISSED, "b": Verdict.LEFT_OUT, "c": Verdict.PICKED_WRONG}
    assert result.expected == "a. The client sends EHLO again"
    assert "the answer is a" in result.summary


def test_single_choice_unknown_key_is_a_sentence_for_the_learner():
    with pytest.raises(ResponseError, match="There is no choice z"):
        grade(ask(starttls_choice()), "z")


def test_single_choice_needs_exactly_one_right_choice():
    two = (Choice("a", "A", correct=True), Choice("b", "B", correct=True))
    with pytest.raises(QuestionError, match="exactly one right choice, not 2") as caught:
        SingleChoice(two)
    assert caught.value.field == "choices"


# --------------------------------------------------------------------------- multiple choice


def test_multiple_choice_all_right_and_nothing_wrong_is_full_marks():
    result = grade(ask(extensions_choice()), {"size", "pipelining", "starttls"})
    assert (result.fraction, result.correct) == (Fraction(1), True)


def test_multiple_choice_each_right_pick_earns_one_nth():
    result = grade(ask(extensions_choice()), ["size", "starttls"])

    assert result.fraction == Fraction(2, 3)
    assert result.correct is False
    assert result.summary == "2 of 3 right choices picked (+2/3): score 2/3."
    points = {m.key: m.points for m in result.marks}
    assert points == {
        "size": Fraction(1, 3),
        "pipelining": 0,
        "starttls": Fraction(1, 3),
        "helo": 0,
        "quit": 0,
    }
    assert {m.key: m.verdict for m in result.marks}["pipelining"] == Verdict.MISSED


def test_multiple_choice_each_wrong_pick_costs_one_nth():
    result = grade(ask(extensions_choice()), {"size", "pipelining", "starttls", "helo"})

    assert result.fraction == Fraction(2, 3)
    assert result.misconceptions == ("HELO is a command, not an extension",)
    assert "1 wrong choice picked (-1/3)" in result.summary


def test_multiple_choice_score_is_floored_at_zero_and_says_so():
    result = grade(ask(extensions_choice()), {"helo", "quit"})

    assert result.fraction == 0
    assert result.summary.endswith("score 0 (not below 0).")
    assert result.misconceptions == (
        "HELO is a command, not an extension",
        "QUIT is a command every server has",
    )


def test_multiple_choice_picking_everything_is_not_full_marks():
    every = {"size", "pipelining", "starttls", "helo", "quit"}
    assert grade(ask(extensions_choice()), every).fraction == Fraction(1, 3)


def test_multiple_choice_empty_pick_scores_zero_without_error():
    result = grade(ask(extensions_choice()), set())
    assert result.fraction == 0
    assert all(m.verdict in (Verdict.MISSED, Verdict.LEFT_OUT) for m in result.marks)


def test_multiple_choice_rule_is_stated_with_the_per_choice_value():
    assert ask(extensions_choice()).rule() == (
        "3 of the choices are right. Each right choice you pick earns 1/3, each wrong choice "
        "you pick costs 1/3; the score never goes below 0."
    )


def test_multiple_choice_response_must_be_a_collection_not_a_string():
    with pytest.raises(TypeError):
        grade(ask(extensions_choice()), "size")
    with pytest.raises(ResponseError, match="no choice nope"):
        grade(ask(extensions_choice()), {"size", "nope"})


# --------------------------------------------------------------------------- put in order


SESSION = ("EHLO", "MAIL FROM", "RCPT TO", "DATA", "QUIT")


def test_order_exactly_right_is_full_marks_and_every_item_in_place():
    question = ask(session_order(*SESSION))
    result = grade(question, ["i0", "i1", "i2", "i3", "i4"])

    assert (result.fraction, result.correct) == (Fraction(1), True)
    assert all(m.verdict == Verdict.IN_PLACE for m in result.marks)
    assert result.expected == "EHLO -> MAIL FROM -> RCPT TO -> DATA -> QUIT"


def test_order_one_item_moved_loses_only_that_item():
    # DATA moved to the front: the other four are still in the right relative order.
    result = grade(ask(session_order(*SESSION)), ["i3", "i0", "i1", "i2", "i4"])

    assert result.fraction == Fraction(4, 5)
    assert result.summary == "4 of 5 items in the right order relative to each other: score 4/5."
    out = [m for m in result.marks if m.verdict == Verdict.OUT_OF_PLACE]
    assert [(m.key, m.position, m.expected_position) for m in out] == [("i3", 1, 4)]


def test_order_is_graded_by_subsequence_not_by_positions():
    # Shifted by one: no item sits at its own position, yet four keep their relative order.
    result = grade(ask(session_order(*SESSION)), ["i4", "i0", "i1", "i2", "i3"])
    assert result.fraction == Fraction(4, 5)


def test_order_fully_reversed_keeps_only_one_item():
    result = grade(ask(session_order(*SESSION)), ["i4", "i3", "i2", "i1", "i0"])

    assert result.fraction == Fraction(1, 5)
    # Of the equally long runs, the one that keeps the learner's first item is shown.
    assert result.marks[0].verdict == Verdict.IN_PLACE
    assert sum(m.verdict == Verdict.IN_PLACE for m in result.marks) == 1


def test_order_tie_between_longest_runs_keeps_the_learner_earliest_items():
    # Swap of the middle two: both {EHLO, RCPT, DATA, QUIT} and {EHLO, MAIL, DATA, QUIT} are
    # longest; the learner placed RCPT before MAIL, so RCPT is kept and MAIL marked.
    result = grade(ask(session_order(*SESSION)), ["i0", "i2", "i1", "i3", "i4"])

    assert result.fraction == Fraction(4, 5)
    assert [m.key for m in result.marks if m.verdict == Verdict.OUT_OF_PLACE] == ["i1"]


def test_order_points_sum_to_the_score():
    result = grade(ask(session_order(*SESSION)), ["i1", "i0", "i4", "i2", "i3"])
    assert sum(m.points for m in result.marks) == result.fraction == Fraction(3, 5)


def _brute_force_longest_ordered(order: tuple[int, ...]) -> int:
    return max(
        size
        for size in range(len(order) + 1)
        for subset in itertools.combinations(order, size)
        if list(subset) == sorted(subset)
    )


def test_order_score_is_the_longest_rightly_ordered_subsequence_for_every_permutation():
    question = ask(session_order(*SESSION))
    for order in itertools.permutations(range(5)):
        result = grade(question, [f"i{n}" for n in order])
        assert result.fraction == Fraction(_brute_force_longest_ordered(order), 5), order
        kept = [m.expected_position for m in result.marks if m.verdict == Verdict.IN_PLACE]
        assert kept == sorted(kept) and len(kept) * Fraction(1, 5) == result.fraction


def test_order_items_with_the_same_text_are_interchangeable():
    # The EHLO before STARTTLS and the EHLO after it look alike to the learner.
    question = ask(session_order("EHLO", "STARTTLS", "EHLO", "MAIL FROM"))
    swapped = grade(question, ["i2", "i1", "i0", "i3"])

    assert (swapped.fraction, swapped.correct) == (Fraction(1), True)
    assert [m.expected_position for m in swapped.marks] == [1, 2, 3, 4]


def test_order_two_items_swapped_is_half():
    assert grade(ask(session_order("A", "B")), ["i1", "i0"]).fraction == Fraction(1, 2)


def test_order_response_must_hold_every_item_once():
    question = ask(session_order(*SESSION))
    with pytest.raises(ResponseError, match="exactly once"):
        grade(question, ["i0", "i1", "i2", "i3"])
    with pytest.raises(ResponseError, match="exactly once"):
        grade(question, ["i0", "i1", "i2", "i3", "i4", "i4"])
    with pytest.raises(ResponseError, match="no item x"):
        grade(question, ["i0", "i1", "i2", "i3", "x"])


def test_scrambled_order_is_a_permutation_that_is_never_already_right():
    order = session_order(*SESSION)
    rng = random.Random(0)
    for _ in range(50):
        shown = order.scrambled(rng)
        assert sorted(shown) == sorted(i.key for i in order.items)
        assert grade(ask(order), list(shown)).correct is False


def test_scrambled_order_of_two_alike_items_with_one_other_still_moves_something():
    order = session_order("EHLO", "EHLO", "QUIT")
    shown = order.scrambled(random.Random(1))
    assert grade(ask(order), list(shown)).correct is False


# --------------------------------------------------------------------------- type the answer


def test_typed_answer_ignores_case_and_extra_whitespace():
    question = ask(TypeAnswer(accepted=("Return-Path", "return path")))
    assert grade(question, "  return-PATH ").correct
    assert grade(question, "Return \t  Path").correct
    assert not grade(question, "Received").correct


def test_typed_answer_normalises_full_width_digits():
    assert normalise_text("２５０") == "250"
    assert grade(ask(TypeAnswer(accepted=("250",))), "２５０").correct


def test_typed_answer_by_pattern_must_match_the_whole_answer():
    question = ask(TypeAnswer(pattern=r"4\d\d", shown="a 4xx code, e.g. 451"))

    assert grade(question, "451").correct
    assert grade(question, " 421 ").correct
    assert not grade(question, "4511").correct
    assert not grade(question, "551").correct
    assert grade(question, "551").expected == "a 4xx code, e.g. 451"


def test_typed_answer_pattern_ignores_case():
    question = ask(TypeAnswer(pattern=r"starttls", shown="STARTTLS"))
    assert grade(question, "StartTLS").correct


def test_typed_answer_wrong_says_the_answer():
    result = grade(ask(TypeAnswer(accepted=("354",))), "250")
    assert (result.score, result.summary) == (0.0, "Not accepted: the answer is 354.")
    assert result.marks == ()


def test_typed_answer_empty_is_not_graded():
    with pytest.raises(ResponseError, match="Type an answer"):
        grade(ask(TypeAnswer(accepted=("354",))), "   ")


def test_typed_answer_needs_an_answer_and_a_valid_pattern():
    with pytest.raises(QuestionError, match="accepted answer or a pattern"):
        TypeAnswer()
    with pytest.raises(QuestionError, match="not a valid regular expression") as caught:
        TypeAnswer(pattern="4[0-9", shown="4xx")
    assert caught.value.field == "pattern"
    with pytest.raises(QuestionError, match="say what answer to show"):
        TypeAnswer(pattern="4..")
    with pytest.raises(QuestionError) as empty:
        TypeAnswer(accepted=("250", "  "))
    assert empty.value.field == "accepted[1]"


# --------------------------------------------------------------------------- a number


def test_number_within_tolerance_is_right_at_both_edges():
    question = ask(NumberAnswer(60, tolerance=5, unit="minutes"))
    assert grade(question, 60).correct
    assert grade(question, 55).correct
    assert grade(question, 65.0).correct
    assert not grade(question, 65.5).correct
    assert not grade(question, 54.9).correct


def test_number_exact_survives_binary_rounding():
    assert grade(ask(NumberAnswer(0.3)), 0.1 + 0.2).correct
    assert not grade(ask(NumberAnswer(0.3)), 0.31).correct


def test_number_typed_with_or_without_its_unit():
    question = ask(NumberAnswer(60, tolerance=5, unit="minutes"))
    assert grade(question, "60").correct
    assert grade(question, " 62.5 minutes").correct
    assert grade(question, "6e1").correct
    result = grade(question, "90 Minutes")
    assert not result.correct
    assert result.summary == "Not within 5 of the answer, 60 minutes (±5)."


def test_number_that_is_not_a_number_is_a_sentence_for_the_learner():
    question = ask(NumberAnswer(60, unit="minutes"))
    with pytest.raises(ResponseError, match='"soon" is not a number'):
        grade(question, "soon")
    with pytest.raises(ResponseError, match="not a number"):
        grade(question, "nan")
    with pytest.raises(ResponseError, match="finite"):
        grade(question, float("inf"))
    with pytest.raises(TypeError):
        grade(question, True)


def test_number_rule_states_the_tolerance():
    assert ask(NumberAnswer(60, tolerance=5)).rule() == (
        "Give a number; within 5 of the answer counts as right."
    )
    assert "only the exact value" in ask(NumberAnswer(3)).rule()


def test_number_rejects_a_negative_tolerance():
    with pytest.raises(QuestionError) as caught:
        NumberAnswer(1, tolerance=-1)
    assert caught.value.field == "tolerance"


# --------------------------------------------------------------------------- the question


def test_hints_are_revealed_one_at_a_time_then_run_out():
    question = ask(TypeAnswer(accepted=("220",)), hints=("It is a 2xx code.", "It greets."))
    assert question.next_hint(0) == "It is a 2xx code."
    assert question.next_hint(1) == "It greets."
    assert question.next_hint(2) is None


def test_a_distractor_without_a_misconception_is_refused():
    with pytest.raises(QuestionError, match="which misconception it catches") as caught:
        Choice("b", "MAIL FROM")
    assert caught.value.field == "misconception"


def test_choice_keys_must_be_unique_and_stable_ids():
    a = Choice("a", "A", correct=True)
    with pytest.raises(QuestionError, match="used twice") as caught:
        SingleChoice((a, Choice("a", "B", misconception="m")))
    assert caught.value.field == "choices[1]"
    with pytest.raises(QuestionError, match="stable id"):
        Choice("a b", "A", correct=True)


@pytest.mark.parametrize("bad", ["", "lesson/q1", "q 1", "-q"])
def test_question_id_must_be_a_stable_id(bad):
    with pytest.raises(QuestionError) as caught:
        Question(bad, "?", TypeAnswer(accepted=("x",)), WHY)
    assert caught.value.field == "id"


def test_a_question_needs_a_prompt_and_an_explanation():
    with pytest.raises(QuestionError) as caught:
        Question("q", "  ", TypeAnswer(accepted=("x",)), WHY)
    assert caught.value.field == "prompt"
    with pytest.raises(QuestionError) as empty:
        Explanation("   ")
    assert empty.value.field == "explanation"


def test_rfc_references_read_and_print_in_the_house_form():
    assert RfcRef.parse("RFC 5321 §4.2.1") == RfcRef(5321, "4.2.1")
    assert RfcRef.parse("rfc 3207 section 4") == RfcRef(3207, "4")
    assert RfcRef.parse("RFC 3030") == RfcRef(3030)
    assert str(RfcRef(5321, "4.5.3.1.1")) == "RFC 5321 §4.5.3.1.1"
    assert str(RfcRef(3030)) == "RFC 3030"
    with pytest.raises(QuestionError):
        RfcRef.parse("section 4 of the SMTP spec")


def test_questions_are_frozen_values_equal_by_content():
    # A question loaded from a lesson and one generated from a trace are the same object.
    one = ask(starttls_choice())
    assert one == ask(starttls_choice())
    assert hash(one) == hash(ask(starttls_choice()))
    with pytest.raises(AttributeError):
        one.prompt = "changed"  # type: ignore[misc]


def test_every_kind_states_its_rule_in_words():
    answers = [
        starttls_choice(),
        extensions_choice(),
        session_order(*SESSION),
        TypeAnswer(accepted=("x",)),
        NumberAnswer(1),
    ]
    assert {a.kind for a in answers} == set(QuestionKind)
    for answer in answers:
        assert ask(answer).rule().endswith(".")
