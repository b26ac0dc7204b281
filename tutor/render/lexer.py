"""Pygments lexers for smtp-tutor transcripts and for raw SMTP sessions, plus their colours.

The token choices follow meaning, not looks: client/server markers, reply classes (success,
intermediate, transient, permanent) and enhanced status codes each get their own token type,
so a formatter or a test can tell them apart. Colour only ever repeats what the characters
already say (the transcript's markers differ: -> <- ~> <~ !!).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pygments.lexer import RegexLexer, bygroups, default, include
from pygments.style import Style
from pygments.token import (
    Comment,
    Generic,
    Keyword,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Text,
    Token,
    Whitespace,
)

# --------------------------------------------------------------------------- token types

MARK_CLIENT = Name.Tag  # ->  client to server, clear text
MARK_CLIENT_TLS = Name.Tag.Encrypted  # ~>  client to server, inside TLS
MARK_SERVER = Name.Builtin  # <-  server to client, clear text
MARK_SERVER_TLS = Name.Builtin.Encrypted  # <~  server to client, inside TLS

REPLY_SUCCESS = Generic.Inserted  # 2xx
REPLY_INTERMEDIATE = Generic.Subheading  # 3xx
REPLY_TRANSIENT = Generic.Error.Transient  # 4xx: an error, but one that passes
REPLY_PERMANENT = Generic.Error  # 5xx
ENHANCED_SUCCESS = REPLY_SUCCESS.Enhanced
ENHANCED_TRANSIENT = REPLY_TRANSIENT.Enhanced
ENHANCED_PERMANENT = REPLY_PERMANENT.Enhanced

COMMAND = Keyword
HOST = Name.Namespace
ADDRESS = String  # <bob@example.net>
PARAMETER = Name.Attribute  # SIZE=, BODY=, SMTPUTF8, EHLO extension names, header field names
TAG = Name.Label  # [dns] [tcp] [tls] ...
RECORD_TYPE = Keyword.Type
HEADING = Generic.Heading
EXPLANATION = Comment
PAYLOAD_BODY = Generic.Output
PAYLOAD_HEADER_VALUE = String.Other
WARNING = REPLY_TRANSIENT
ERROR = REPLY_PERMANENT
GOOD = REPLY_SUCCESS

_MARK = {"->": MARK_CLIENT, "~>": MARK_CLIENT_TLS, "<-": MARK_SERVER, "<~": MARK_SERVER_TLS}


def _marker(lexer: RegexLexer, match: Any, ctx: Any = None) -> Iterator[tuple[int, Any, str]]:
    """Pick the marker's token from its characters (a pygments bygroups callback)."""
    yield match.start(), _MARK[match.group()], match.group()


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_HOSTNAME = rf"{_LABEL}(?:\.{_LABEL})+\.?"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_COMMANDS = r"EHLO|HELO|DATA|QUIT|STARTTLS|AUTH|RSET|NOOP|VRFY|EXPN|HELP|BDAT|ETRN"
_EXTENSIONS = (
    r"SIZE|8BITMIME|SMTPUTF8|STARTTLS|PIPELINING|ENHANCEDSTATUSCODES|AUTH|DSN|CHUNKING"
    r"|VRFY|ETRN|BINARYMIME|DELIVERBY|REQUIRETLS|PLAIN|LOGIN|CRAM-MD5|XCLIENT|XFORWARD"
)
_PARAMS = r"SIZE|BODY|SMTPUTF8|RET|ENVID|NOTIFY|ORCPT|AUTH|REQUIRETLS"
_RR_TYPES = r"MX|AAAA|A|TXT|PTR|CNAME|SOA|NS|SRV|TLSA|CAA"

# "  ->      " : two spaces, the marker, six spaces — the transcript's SMTP line prefix.
_SMTP_PREFIX = r"^(  )(->|~>|<-|<~)( {6})"


class _SmtpWords(RegexLexer):
    """Shared rules for the words inside SMTP lines and tagged lines."""

    tokens = {
        "words": [
            (r"<[^<>\n]*>", ADDRESS),
            (r"[\w.+-]+@[\w.-]+\w", ADDRESS),
            (r"\b(TLSv1(?:\.[0-3])?|SSLv3)\b", Keyword.Type),
            (r"\b2\.\d{1,3}\.\d{1,3}\b", ENHANCED_SUCCESS),
            (r"\b4\.\d{1,3}\.\d{1,3}\b", ENHANCED_TRANSIENT),
            (r"\b5\.\d{1,3}\.\d{1,3}\b", ENHANCED_PERMANENT),
            (rf"\[?{_IPV4}\]?(:\d+)?", Number),
            (rf"\b({_PARAMS})(=)([^\s]*)", bygroups(PARAMETER, Operator, String)),
            (r"\bSMTPUTF8\b", PARAMETER),
            (_HOSTNAME, HOST),
            (r"\d+", Number),
            (r"[ \t]+", Whitespace),
            (r"\w+|[^\w\s]", Text),
        ],
    }


_REPLY_RULES = [
    (r"(2\d\d)([ -]?)", bygroups(REPLY_SUCCESS, Punctuation), ("#pop", "reply-rest")),
    (r"(3\d\d)([ -]?)", bygroups(REPLY_INTERMEDIATE, Punctuation), ("#pop", "reply-rest")),
    (r"(4\d\d)([ -]?)", bygroups(REPLY_TRANSIENT, Punctuation), ("#pop", "reply-rest")),
    (r"(5\d\d)([ -]?)", bygroups(REPLY_PERMANENT, Punctuation), ("#pop", "reply-rest")),
    default(("#pop", "line")),
]

_COMMAND_RULES = [
    (
        r"(?i)(MAIL[ \t]+FROM|RCPT[ \t]+TO)([ \t]*:)",
        bygroups(COMMAND, Punctuation),
        ("#pop", "line"),
    ),
    (rf"(?i)({_COMMANDS})\b", COMMAND, ("#pop", "line")),
    default(("#pop", "line")),
]

_REPLY_REST = [
    (rf"\b({_EXTENSIONS})\b", PARAMETER),
    (r"\n", Whitespace, "#pop"),
    include("words"),
]

_LINE = [
    (r"\n", Whitespace, "#pop"),
    include("words"),
]


class SmtpTranscriptLexer(_SmtpWords):
    """Lexer for the plain transcript written by ``tutor.render.transcript``."""

    name = "SMTP transcript (smtp-tutor)"
    aliases = ["smtp-transcript"]
    filenames = ["*.transcript"]
    mimetypes = ["text/x-smtp-transcript"]

    tokens = {
        "root": [
            (r"^[─═╔║╚][^\n]*\n", HEADING),
            (r"^( +)(↳)([^\n]*\n)", bygroups(Whitespace, Punctuation, EXPLANATION)),
            (r"(?=^  (?:->|~>|<-|<~) {6}│)", Text, "payload-headers"),
            (
                _SMTP_PREFIX + r"(⋯ )",
                bygroups(Whitespace, _marker, Whitespace, Punctuation),
                "line",
            ),
            (r"^(  )(->|~>)( {6})", bygroups(Whitespace, _marker, Whitespace), "command"),
            (r"^(  )(<-|<~)( {6})", bygroups(Whitespace, _marker, Whitespace), "reply"),
            (r"^(\[warn\])( +)(!![^\n]*)(\n)", bygroups(TAG, Whitespace, WARNING, Whitespace)),
            (r"^(\[error\])( +)(!![^\n]*)(\n)", bygroups(TAG, Whitespace, ERROR, Whitespace)),
            (r"^(\[[a-z]+\])( *)", bygroups(TAG, Whitespace), "tagged"),
            (r"^( +)", Whitespace, "line"),
            (r"[^\n]*\n", Text),
        ],
        "command": _COMMAND_RULES,
        "reply": _REPLY_RULES,
        "reply-rest": _REPLY_REST,
        "line": _LINE,
        "tagged": [
            (r"(!!)([^\n]*)", bygroups(ERROR, ERROR)),
            (r"✓[^\n(]*", GOOD),
            (r"\b(connected|delivered|authenticated|NOERROR)\b", GOOD),
            (r"\b(deferred|NODATA)\b", WARNING),
            (r"\b(rejected|bounced|refused|NXDOMAIN|SERVFAIL|REFUSED|FORMERR|NOTIMP)\b", ERROR),
            (r"(\()([2]\d\d)\b", bygroups(Punctuation, REPLY_SUCCESS)),
            (r"(\()([4]\d\d)\b", bygroups(Punctuation, REPLY_TRANSIENT)),
            (r"(\()([5]\d\d)\b", bygroups(Punctuation, REPLY_PERMANENT)),
            (rf"\b({_RR_TYPES})\b", RECORD_TYPE),
            (r"\bIN\b", Keyword),
            (r'"[^"\n]*"', String.Double),
            (r"[?→←]", Operator),
            (r"\n", Whitespace, "#pop"),
            include("words"),
        ],
        "payload-headers": [
            (
                _SMTP_PREFIX + r"(│)(\n)",
                bygroups(Whitespace, _marker, Whitespace, Punctuation, Whitespace),
                ("#pop", "payload-body"),
            ),
            (
                _SMTP_PREFIX + r"(│ )([ \t][^\n]*\n)",
                bygroups(Whitespace, _marker, Whitespace, Punctuation, PAYLOAD_HEADER_VALUE),
            ),
            (
                _SMTP_PREFIX + r"(│ )([!-9;-~]+)(:)([^\n]*\n)",
                bygroups(
                    Whitespace,
                    _marker,
                    Whitespace,
                    Punctuation,
                    PARAMETER,
                    Punctuation,
                    PAYLOAD_HEADER_VALUE,
                ),
            ),
            (
                _SMTP_PREFIX + r"(│ )([^\n]*\n)",
                bygroups(Whitespace, _marker, Whitespace, Punctuation, PAYLOAD_BODY),
            ),
            default("#pop"),
        ],
        "payload-body": [
            (
                _SMTP_PREFIX + r"(│ )(\.)(\n)",
                bygroups(Whitespace, _marker, Whitespace, Punctuation, Punctuation, Whitespace),
            ),
            (
                _SMTP_PREFIX + r"(│ ?)([^\n]*\n)",
                bygroups(Whitespace, _marker, Whitespace, Punctuation, PAYLOAD_BODY),
            ),
            default("#pop"),
        ],
    }


class SmtpSessionLexer(_SmtpWords):
    """Lexer for a raw SMTP session as a student might paste it (nc, telnet, swaks, RFC style).

    Lines may carry a "C:"/"S:" or "->"/"<-" prefix; replies are recognised by their code.
    """

    name = "SMTP session"
    aliases = ["smtp-session", "smtp"]
    filenames = ["*.smtp"]
    mimetypes = ["text/x-smtp-session"]

    tokens = {
        "root": [
            (r"^(C:)([ \t]*)", bygroups(MARK_CLIENT, Whitespace), "command"),
            (r"^(S:)([ \t]*)", bygroups(MARK_SERVER, Whitespace), "reply"),
            (r"^([ \t]*)(->|~>)([ \t]*)", bygroups(Whitespace, _marker, Whitespace), "command"),
            (r"^([ \t]*)(<-|<~)([ \t]*)", bygroups(Whitespace, _marker, Whitespace), "reply"),
            (r"^(?=[1-5]\d\d(?:[ -]|$))", Text, "reply"),
            (rf"(?i)^(?=(?:{_COMMANDS}|MAIL|RCPT)\b)", Text, "command"),
            (r"[^\n]*\n", PAYLOAD_BODY),
        ],
        "command": _COMMAND_RULES,
        "reply": _REPLY_RULES,
        "reply-rest": _REPLY_REST,
        "line": _LINE,
    }


# --------------------------------------------------------------------------- colours


class TranscriptStyle(Style):
    """Colours for Terminal256Formatter (and HTML export); ANSI names follow the terminal theme."""

    name = "smtp-tutor"
    styles = {
        Token: "",
        MARK_CLIENT: "bold ansicyan",
        MARK_CLIENT_TLS: "bold ansigreen",
        MARK_SERVER: "bold ansiblue",
        MARK_SERVER_TLS: "bold ansibrightgreen",
        REPLY_SUCCESS: "ansigreen",
        REPLY_INTERMEDIATE: "ansicyan",
        REPLY_TRANSIENT: "ansiyellow",
        REPLY_PERMANENT: "bold ansired",
        COMMAND: "bold",
        HOST: "ansibrightcyan",
        ADDRESS: "ansimagenta",
        PARAMETER: "ansibrightblue",
        TAG: "bold",
        RECORD_TYPE: "ansibrightblue",
        HEADING: "bold",
        EXPLANATION: "italic ansibrightblack",
        PAYLOAD_BODY: "",
        PAYLOAD_HEADER_VALUE: "",
    }


# For TerminalFormatter (16 colours): (light background, dark background).
TERMINAL_COLOURS: dict = {
    Token: ("", ""),
    MARK_CLIENT: ("*cyan*", "*brightcyan*"),
    MARK_CLIENT_TLS: ("*green*", "*brightgreen*"),
    MARK_SERVER: ("*blue*", "*brightblue*"),
    MARK_SERVER_TLS: ("*green*", "*brightgreen*"),
    REPLY_SUCCESS: ("green", "brightgreen"),
    REPLY_INTERMEDIATE: ("cyan", "brightcyan"),
    REPLY_TRANSIENT: ("yellow", "yellow"),
    REPLY_PERMANENT: ("*red*", "*brightred*"),
    COMMAND: ("**", "**"),
    HOST: ("cyan", "brightcyan"),
    ADDRESS: ("magenta", "brightmagenta"),
    PARAMETER: ("blue", "brightblue"),
    TAG: ("**", "**"),
    RECORD_TYPE: ("blue", "brightblue"),
    HEADING: ("**", "**"),
    EXPLANATION: ("gray", "brightblack"),
}
