"""Exporting a lesson's questions to a learning management system: Moodle XML and QTI 2.1.

Lessons are authored in TOML and only ever exported from it, never edited in an LMS format:

* ``bank`` gathers what is exported: every written question of a lesson as the file gives it,
  and its predict and generated questions as they were asked on one real run (a recorded
  trace, or a fresh run of the lesson's scenario), each labelled with that run;
* ``moodle`` writes one Moodle XML ``<quiz>`` with a category per lesson;
* ``qti`` writes an IMS content package (a zip) of QTI 2.1 assessment items, one per question,
  and one assessment test per lesson.

Both writers build their XML with ElementTree and say, as ``notes``, whatever a question holds
that the format cannot (a typed answer's pattern, say), so nothing is dropped silently.
"""
