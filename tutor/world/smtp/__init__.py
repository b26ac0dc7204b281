"""The world's SMTP servers: aiosmtpd receivers, submission, the gateway, checks, Maildirs."""
