"""Lessons, questions, progress and labs: reads a run (tutor.run) and its trace (tutor.story)."""
