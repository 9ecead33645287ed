"""Types that exist only on the partitions, resolved from a partition's catalog.

PL/Proxy reads its own catalog for every type in a proxy signature: ``mood`` becomes
``public.mood`` in the remote SQL, and ``RETURNS SETOF tbl`` is the table's row type, whose
non-dropped columns are selected by name with casts. The kernel has no catalog of its own,
so :func:`resolve_function` asks one partition (``lookup`` runs a query there) and returns
the function with every user type schema-qualified and a named composite return type
expanded into :attr:`ProxyFunction.rowtype`. The session caches the result per cluster.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from plproxy_magic.errors import CallError, CompileError
from plproxy_magic.function import Param, ProxyFunction
from plproxy_magic.pgtypes import TypeRef, quote_ident

__all__ = ["Lookup", "resolve_function", "result_types"]

#: ``lookup(sql, params) -> rows``: run a catalog query on a partition ($n placeholders).
Lookup = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]

_TYPE_SQL = """
SELECT n.nspname, t.typname, t.typtype, t.typrelid
FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE t.oid = pg_catalog.to_regtype($1)
"""

# Each column's type by pg_type name; arrays as their element type, as PL/Proxy names them.
_COLUMNS_SQL = """
SELECT a.attname, coalesce(en.nspname, n.nspname), coalesce(e.typname, t.typname),
       e.oid IS NOT NULL
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
LEFT JOIN pg_catalog.pg_namespace en ON en.oid = e.typnamespace
WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""


def _written(t: TypeRef) -> str:
    return f"{quote_ident(t.schema)}.{quote_ident(t.name)}" if t.schema else quote_ident(t.name)


def resolve_function(fn: ProxyFunction, lookup: Lookup) -> ProxyFunction:
    """``fn`` with user types qualified and a composite return type expanded."""
    resolved: dict[TypeRef, tuple[TypeRef, str, int]] = {}
    for t in fn.user_types:
        rows = lookup(_TYPE_SQL, [_written(t)])
        if not rows:
            raise CallError(f'type "{_written(t)}" does not exist', sqlstate="42704")
        nsp, typname, typtype, relid = rows[0]
        resolved[t] = (TypeRef(typname, nsp), typtype, relid)

    def fix(t: TypeRef) -> TypeRef:
        hit = resolved.get(t.element)
        return TypeRef(hit[0].name, hit[0].schema, t.array) if hit else t

    params = tuple(dataclasses.replace(p, type=fix(p.type)) for p in fn.params)
    rettype = fix(fn.rettype)
    rowtype = None
    ret = resolved.get(fn.rettype.element)
    if ret is not None and not fn.rettype.array and not fn.out_columns:
        _, typtype, relid = ret
        if typtype == "c":
            cols = lookup(_COLUMNS_SQL, [relid])
            rowtype = tuple(
                Param(name, TypeRef(typ, nsp, bool(is_array)), "out")
                for name, nsp, typ, is_array in cols
            )
        elif typtype == "p":
            raise CompileError(f"unsupported pseudo type: {rettype.name}")
    return dataclasses.replace(fn, params=params, rettype=rettype, rowtype=rowtype)


def result_types(fn: ProxyFunction) -> tuple[str, ...]:
    """Qualified names of the user types among ``fn``'s result columns (for loaders)."""
    composite = fn.kind == "composite"
    types = [p.type for p in fn.result_columns] if composite else [fn.result_type]
    names = {
        f"{quote_ident(t.schema)}.{quote_ident(t.name)}"
        for t in types
        if not t.is_builtin and t.schema is not None
    }
    return tuple(sorted(names))
