"""Connect strings: masking passwords for display, and the facts PL/Proxy shows from them.

Nothing here opens a connection. Every repr, HTML view and error message that shows a
connect string passes it through :func:`mask` first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from psycopg import conninfo

__all__ = ["dbname_of", "mask", "mask_options", "parse", "with_user"]

# key=value: a libpq-quoted value, the same doubled inside a SQL literal (``''pw''``, where
# ``\'`` became ``\''``), or an unquoted one. An unquoted value ends at whitespace, or at a
# quote that closes the SQL literal around it (``CONNECT 'dbname=x password=pw';``).
_KV_PASSWORD = re.compile(
    r"(password\s*=\s*)"
    r"(''(?:[^'\\]|\\''|\\.)*''|'(?:[^'\\]|\\.)*'|(?:[^\s']|'(?![\s;),\]}]|$))+)",
    re.IGNORECASE,
)
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)([^@\s]*)(@)", re.IGNORECASE)
_QUERY_PASSWORD = re.compile(r"([?&]password=)([^&\s]*)", re.IGNORECASE)
# SQL/MED: OPTIONS (password 'secret') / ("password" 'secret') / (password E'sec\\ret')
_OPTION_PASSWORD = re.compile(
    r"""(\b"?password"?\s+)(?:[Ee]'(?:[^'\\]|''|\\.)*'|'(?:[^']|'')*')""", re.IGNORECASE
)
# a Python mapping shown with repr(): {'password': 'secret'}
_DICT_PASSWORD = re.compile(
    r"""(['"]password['"]\s*:\s*)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.IGNORECASE
)


def mask(text: str) -> str:
    """Replace every password in ``text`` with ``***``.

    Knows libpq's key=value and URI forms (also inside SQL literals), SQL/MED option lists
    and Python dict reprs.
    """
    text = _KV_PASSWORD.sub(r"\1***", text)
    text = _URI_PASSWORD.sub(lambda m: m.group(1) + ("***" if m.group(2) else "") + "@", text)
    text = _QUERY_PASSWORD.sub(r"\1***", text)
    text = _OPTION_PASSWORD.sub(r"\1'***'", text)
    return _DICT_PASSWORD.sub(r"\1'***'", text)


def mask_options(options: Mapping[str, str | None]) -> dict[str, str | None]:
    """SQL/MED options fit for display: a ``password`` option is ``***``, connect strings masked."""
    return {
        k: v if v is None else "***" if k.lower() == "password" else mask(v)
        for k, v in options.items()
    }


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
