"""The Textual step-through tutor: pick a scenario, step through its real run, read why."""
