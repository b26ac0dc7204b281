"""Hands-on labs: a task, a world in a chosen state, requirements checked against real state.

``model`` (the shapes), ``loader`` (lab.toml -> Lab, file:line errors), ``checks`` (each
requirement kind graded through the run handle), ``steps`` (reference solutions done as a
student would), ``review`` (the learner's sessions, the first mistake marked), ``labrun``
(one lab's world), ``daemon`` (that world as a background process), ``control`` (the CLI's
side of it), ``place`` (where a learner's lab lives on disk), ``authoring`` (`labs check`),
``report`` (what the commands print). The format is documented in labs/README.md.
"""
