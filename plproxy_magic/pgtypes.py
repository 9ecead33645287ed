"""PostgreSQL type names as PL/Proxy writes them, and Python values for routing.

PL/Proxy casts every argument and result column with the type's ``pg_type`` name
(type.c): ``int4`` for ``integer``, ``"numeric"`` for ``numeric(10,2)`` (typmods dropped,
quoted because it is a keyword), ``bpchar`` for ``char(3)``, ``_int4`` for ``int[]``,
``schema.name`` for types outside ``pg_catalog``. :class:`TypeRef` owns that naming, and the
conversion of a literal or Python value into the value a routing function sees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pglast import keywords

__all__ = ["TypeRef", "quote_ident", "typeref_from_ast"]

_PLAIN_IDENT = re.compile(r"^[a-z_][a-z0-9_$]*$")
_QUOTED_KEYWORDS = (
    keywords.RESERVED_KEYWORDS | keywords.COL_NAME_KEYWORDS | keywords.TYPE_FUNC_NAME_KEYWORDS
)

# Names users write that are not pg_type names (pglast already folds the SQL-standard
# spellings such as ``integer`` or ``double precision`` into ``pg_catalog.int4`` etc.).
_ALIASES = {
    "int": "int4",
    "integer": "int4",
    "smallint": "int2",
    "bigint": "int8",
    "real": "float4",
    "float": "float8",
    "boolean": "bool",
    "decimal": "numeric",
    "char": "bpchar",
    "character": "bpchar",
    "timestamp with time zone": "timestamptz",
    "time with time zone": "timetz",
}

#: pg_catalog types a user may write without schema; anything else is a user type.
BUILTIN_TYPES = frozenset(
    """
    bool bytea char name int8 int2 int2vector int4 regproc text oid tid xid cid json xml
    point lseg path box polygon line float4 float8 unknown circle money macaddr inet cidr
    macaddr8 aclitem bpchar varchar date time timestamp timestamptz interval timetz bit
    varbit numeric refcursor regprocedure regoper regoperator regclass regtype uuid
    txid_snapshot pg_lsn tsvector gtsvector tsquery regconfig regdictionary jsonb jsonpath
    int4range numrange tsrange tstzrange daterange int8range int4multirange nummultirange
    tsmultirange tstzmultirange datemultirange int8multirange record void cstring any
    anyelement anyarray anynonarray anyenum anyrange trigger regnamespace regrole xid8
    pg_snapshot
    """.split()  # noqa: SIM905 (a word list reads better than 85 quoted strings)
)

INT_TYPES = {"int2": (-(2**15), 2**15 - 1), "int4": (-(2**31), 2**31 - 1),
             "int8": (-(2**63), 2**63 - 1)}  # fmt: skip


def quote_ident(name: str) -> str:
    """PostgreSQL's ``quote_ident``: quote unless a plain lower-case non-keyword."""
    if _PLAIN_IDENT.match(name) and name not in _QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class TypeRef:
    """A type as PL/Proxy names it: ``name`` is the pg_type name of the element type."""

    name: str
    schema: str | None = None
    array: bool = False

    @property
    def is_builtin(self) -> bool:
        return self.schema in (None, "pg_catalog") and self.name in BUILTIN_TYPES

    @property
    def cast(self) -> str:
        """The text after ``::`` in PL/Proxy's SQL (``int4``, ``_text``, ``public.mood``).

        ``pg_catalog`` types go unqualified; others as ``schema.name`` once the schema is
        known (from the partition catalog), else by bare name through ``search_path``.
        """
        typname = ("_" + self.name) if self.array else self.name
        if self.schema in (None, "pg_catalog"):
            return quote_ident(typname)
        return f"{quote_ident(self.schema)}.{quote_ident(typname)}"

    @property
    def element(self) -> TypeRef:
        return TypeRef(self.name, self.schema, False)

    def __str__(self) -> str:
        return self.cast

    def routing_value(self, value: Any) -> Any:
        """The value a routing function sees for an argument of this type.

        Integers are range-checked like PostgreSQL's input functions; SQL literals arrive
        as ``str`` and are converted for the integer and text types that routing uses.
        Other types pass through unchanged (they are sent as text and cast remotely).
        """
        if value is None:
            return None
        if self.array:
            return [self.element.routing_value(v) for v in value]
        bounds = INT_TYPES.get(self.name) if self.is_builtin else None
        if bounds is not None:
            if isinstance(value, bool):
                raise TypeError(f"invalid input for type {self.name}: {value!r}")
            if isinstance(value, str):
                try:
                    value = int(value.strip())
                except ValueError:
                    raise ValueError(
                        f'invalid input syntax for type {_SQL_NAMES[self.name]}: "{value}"'
                    ) from None
            ivalue = int(value)
            if ivalue != value:
                raise ValueError(f"invalid input for type {self.name}: {value!r}")
            lo, hi = bounds
            if not lo <= ivalue <= hi:
                kind = {"int2": "smallint", "int4": "integer", "int8": "bigint"}[self.name]
                raise ValueError(f'value "{ivalue}" is out of range for type {kind}')
            return ivalue
        return value


_SQL_NAMES = {"int2": "smallint", "int4": "integer", "int8": "bigint"}


def typeref_from_ast(node: Any) -> TypeRef:
    """Build a TypeRef from pglast's ``TypeName`` (typmods dropped, as PL/Proxy does)."""
    names = [n.sval for n in node.names]
    array = bool(node.arrayBounds)
    if len(names) == 2 and names[0] == "pg_catalog":
        schema: str | None = "pg_catalog"
        name = names[1]
    elif len(names) == 1:
        schema, name = None, names[0]
    else:
        schema, name = names[-2], names[-1]
    name = _ALIASES.get(name, name) if schema in (None, "pg_catalog") else name
    if schema is None and name in BUILTIN_TYPES:
        schema = "pg_catalog"
    return TypeRef(name=name, schema=schema, array=array)


def parse_type(text: str) -> TypeRef:
    """Parse a type written as SQL (``numeric(10,2)``, ``text[]``, ``public.mood``)."""
    from pglast import parse_sql

    stmt: Any = parse_sql(f"SELECT NULL::{text}")[0].stmt
    return typeref_from_ast(stmt.targetList[0].val.typeName)
