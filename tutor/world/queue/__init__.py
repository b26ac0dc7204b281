"""The sender's queue: the crash-safe spool, Postfix's retry schedule, the queue manager, DSNs."""
