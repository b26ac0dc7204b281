"""The lesson screen's widgets: the pane that narrates and asks, and the answer inputs."""
