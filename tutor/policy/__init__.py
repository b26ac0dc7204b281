"""Receiving-side policy checks (SPF, DKIM, DMARC, DNSBL, greylisting), each explaining itself."""
