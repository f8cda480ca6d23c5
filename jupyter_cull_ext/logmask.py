"""Secrets out of log lines: tokens, passwords, cookies, ``Authorization`` headers, ``_xsrf``
values and credentials in URLs become ``[secret]``, as do the server's own token and the hub
API token wherever they appear. Pure; ``serverlog`` applies it to every line it writes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: What a masked secret reads as (jupyter_server's own URL scrubbing writes the same).
MASK = "[secret]"
#: Literal secrets shorter than this are not masked: they would mask ordinary words.
MIN_SECRET = 8
_NAMES = r"[\w.-]*(?:token|secret|password|passwd|xsrf|api_?key)[\w.-]*"
#: An optional quote after ``=`` or ``:``, escaped too (JSON inside JSON): it is kept.
_QUOTE = r"""(?:\\?['"])?"""
_PATTERNS = (
    # Cookie / Set-Cookie: every cookie of the user's session, quoted values included: a
    # value in quotes (JSON, a dict repr) up to its closing quote, a bare one (a header line,
    # `Cookie: _xsrf="2|…"`) to the end of the line. First, so that no other pattern has cut
    # the value (and its escaped quotes) short.
    re.compile(r"""(?i)(\b(?:set-)?cookie['"]?\s*[:=]\s*(?:(")|(')|(?=[^\s'"\\])))"""
               r"""((?(2)(?:\\.|[^"\\\r\n])+|(?(3)(?:\\.|[^'\\\r\n])+|[^\r\n]+)))"""),
    # name=value and name: value, in URLs, query strings, form bodies, environment dumps,
    # HTTP headers, YAML and dict reprs: ?token=…, &_xsrf=…, JUPYTERHUB_API_TOKEN=…,
    # GITHUB_TOKEN="…", X-XSRFToken: 2|…, GITHUB_TOKEN: ghp_…, 'token': '…'
    re.compile(rf"""(?i)(\b{_NAMES}\\?['"]?\s*[=:]\s*{_QUOTE})([^\s&;,'"<>{{}}\\]+)"""),
    # the same keys in JSON or a Python dict repr, for values with spaces: "password": "a b"
    re.compile(rf"""(?i)(['"]{_NAMES}['"]\s*:\s*['"])([^'"]+)"""),
    # Authorization: token …, 'Authorization': 'Bearer …' (the scheme is kept)
    re.compile(
        r"""(?i)(\b(?:proxy-)?authorization['"]?\s*[:=]\s*['"]?"""
        r"""(?:(?:token|bearer|basic|digest)\s+)?)([^\s'",}]+)"""
    ),
    # a bearer credential wherever it appears
    re.compile(r"(?i)(\bbearer\s+)([\w.~+/-]+=*)"),
    # credentials in a URL, as git and pip log them: https://alice:s3cret@host/ keeps the
    # user, https://ghp_…@host/ (a token as the user) is masked whole
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://(?:[^\s/?#@:]*:)?)([^\s/?#@]+)(?=@)"),
)
#: What the patterns above need, under the same case rules: a word of the first five, or
#: the last one's ``://`` … ``@``. Looking for these first lets the common line (no
#: credential in sight) skip the patterns, a fifth of their cost.
_ANY_NAME = re.compile(r"(?i)token|secret|passw|xsrf|api_?key|authorization|cookie|bearer")
_USERINFO = re.compile(r"://[^\s/?#@]*@")


def _may_hold_credentials(text: str) -> bool:
    return (_ANY_NAME.search(text) is not None
            or ("@" in text and _USERINFO.search(text) is not None))


class Masker:
    """Masks secrets in a line of text: known credential shapes, and the literal secrets it
    was given (the server's token, the hub API token)."""

    def __init__(self, secrets: Iterable[str] = ()):
        self.secrets: set[str] = set()
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= MIN_SECRET:
            self.secrets.add(secret)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return mask_patterns(text) if _may_hold_credentials(text) else text


def mask_patterns(text: str) -> str:
    """Mask every known credential shape in ``text``."""
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{MASK}", text)
    return text
