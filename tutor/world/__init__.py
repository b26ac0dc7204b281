"""The real mail world on loopback: DNS, submission, the sender's MTA, receivers, mailboxes."""
