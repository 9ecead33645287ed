"""Connect strings: masking passwords for display, and the facts PL/Proxy shows from them.

Nothing here opens a connection. Every repr, HTML view and error message that shows a
connect string passes it through :func:`mask` first.
"""

from __future__ import annotations

import re

from psycopg import conninfo

__all__ = ["dbname_of", "mask", "parse", "with_user"]

_KV_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&\s]*)", re.IGNORECASE)
# SQL/MED: OPTIONS (password 'secret') / ("password" 'secret')
_OPTION_PASSWORD = re.compile(r"""(\b"?password"?\s+)'(?:[^']|'')*'""", re.IGNORECASE)


def mask(text: str) -> str:
    """Replace every password in ``text`` (key=value or URI form) with ``***``."""
    text = _KV_PASSWORD.sub(r"\1***", text)
    text = _URI_PASSWORD.sub(lambda m: m.group(1) + ("***" if m.group(2) else "") + "@", text)
    text = _QUERY_PASSWORD.sub(r"\1***", text)
    return _OPTION_PASSWORD.sub(r"\1'***'", text)


def parse(connstr: str) -> dict[str, str]:
    """The connect string's parameters (libpq's parser); ``{}`` if it does not parse."""
    try:
        return {k: str(v) for k, v in conninfo.conninfo_to_dict(connstr).items()}
    except Exception:
        return {}


def dbname_of(connstr: str) -> str:
    """What libpq's ``PQdb`` reports, as PL/Proxy prints in ``[db]``."""
    params = parse(connstr)
    return params.get("dbname") or params.get("user") or "(null)"


def with_user(connstr: str, user: str | None, password: str | None = None) -> str:
    """Append ``user=`` (and ``password=``) unless the string already names a user.

    PL/Proxy does a plain substring test for ``user=`` and then appends nothing at all.
    """
    if user is None or "user=" in connstr:
        return connstr
    extra = f" user={_quote(user)}"
    if password is not None:
        extra += f" password={_quote(password)}"
    return connstr + extra


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
