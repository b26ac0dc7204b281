"""The sending side: the SMTP client, the outbound MTA, DKIM signing, the submitted message."""
