"""Generated questions: a template plus a fold of the run just watched gives a concrete question.

The prompt, the answer and the distractors come from this run's trace (through tutor.story),
so the same template asks a different question of another scenario or what-if. A template
that finds nothing to ask about on a run returns None: the question is skipped, never asked
wrong. A template may be asked part-way through a run (at a narration anchor), so one whose
answer is only known at the end (how many attempts until delivery) waits until it is.

One module per lifecycle stage holds its templates; adding a template is adding a function to
one of them and a line to its ``TEMPLATES``.
"""

from __future__ import annotations

from collections.abc import Sequence

from tutor.learn.questions import Explanation, Question
from tutor.learn.templates import bounce, data, dns, ehlo, envelope, filtering, retry, starttls
from tutor.learn.templates._base import Build, Template
from tutor.trace import Event

TEMPLATES: dict[str, Template] = {
    t.id: t
    for module in (dns, ehlo, starttls, envelope, data, filtering, retry, bounce)
    for t in module.TEMPLATES
}


def generate(
    template_id: str,
    events: Sequence[Event],
    question_id: str,
    explanation: Explanation | None = None,
    hints: tuple[str, ...] = (),
) -> Question | None:
    """The template's question on this run, with the lesson's own explanation if it gives one."""
    question = TEMPLATES[template_id].build(events, question_id)
    if question is None:
        return None
    if explanation is not None and explanation.text:
        question = Question(
            question.id,
            question.prompt,
            question.answer,
            Explanation(
                f"{question.explanation.text}\n\n{explanation.text}",
                question.explanation.refs + explanation.refs,
            ),
            hints or question.hints,
        )
    elif hints:
        question = Question(
            question.id, question.prompt, question.answer, question.explanation, hints
        )
    return question


__all__ = ["TEMPLATES", "Build", "Template", "generate"]
