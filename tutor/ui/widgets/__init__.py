"""The run screen's widgets, one per file, each showing one part of the recorded run."""
