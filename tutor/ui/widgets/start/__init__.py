"""The start screen's widgets."""
