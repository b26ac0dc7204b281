"""The message pane's model, which is a fold of the trace: it lives in ``tutor.story.message``.

Re-exported here for the code and tests that import it from the UI package.
"""

from tutor.story.message import HeaderLine, MessageState, message_state, shaping_events

__all__ = ["HeaderLine", "MessageState", "message_state", "shaping_events"]
