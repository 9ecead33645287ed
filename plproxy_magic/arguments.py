"""Call arguments: binding, conversion to the declared types, and overload choice.

A call's Python values (or SQL literals, which arrive as text) are matched to the proxy
function's IN/INOUT arguments by position and name, filled from constant DEFAULTs, and
converted the way the declared type's input function would: integers range-checked, text
as ``str``, arrays as lists (from Python sequences, numpy arrays, pandas Series or array
literals). Overloads are chosen by argument count, then by how well the values fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from psycopg.types.json import Json, Jsonb

from plproxy_magic.calls import TypedNull, parse_array_literal
from plproxy_magic.errors import CallError
from plproxy_magic.function import ProxyFunction
from plproxy_magic.pgtypes import INT_TYPES, TypeRef

__all__ = ["bind_arguments", "check_utf8", "fit", "normalize", "normalize_column", "signature"]

_MISSING = object()

_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name"})
_INT_TYPES = frozenset({"int2", "int4", "int8"})
_NUM_TYPES = frozenset({"numeric", "float4", "float8"})


def signature(fn: ProxyFunction) -> tuple[str, tuple[str, ...]]:
    return fn.schema.lower(), tuple(p.type.cast for p in fn.args)


def fit(fn: ProxyFunction, args: Sequence[Any]) -> int:
    """How well positional ``args`` fit ``fn``'s types (-1: not at all), for overloads.

    Like PostgreSQL: an integer fits integer types best, a quoted literal (a Python str)
    prefers text but may be cast to anything, a list needs an array.
    """
    score = 0
    for p, v in zip(fn.args, args, strict=False):
        t = p.type
        if v is None:
            continue
        if isinstance(v, TypedNull):
            family = v.type.name in _INT_TYPES and t.name in _INT_TYPES
            score += 3 if v.type.cast == t.cast else 1 if family else -100
            continue
        if isinstance(v, (list, tuple, np.ndarray, pd.Series)):
            if not t.array:
                return -1
            score += 2
        elif t.array:
            score += 1 if isinstance(v, str) else -100
        elif isinstance(v, bool):
            score += 2 if t.name == "bool" else -100
        elif isinstance(v, (int, np.integer)):
            score += 2 if t.name in _INT_TYPES else 1 if t.name in _NUM_TYPES else -100
        elif isinstance(v, (float, np.floating)):
            score += 2 if t.name in _NUM_TYPES else -100
        elif isinstance(v, str):
            score += 2 if t.name in _TEXT_TYPES else 1
        else:
            score += 1
    return score if score >= 0 else -1


def check_utf8(value: Any) -> None:
    """Refuse text PostgreSQL cannot receive: a lone surrogate has no UTF-8 form.

    Such a ``str`` (JSON can carry one into a notebook) would otherwise fail deep inside
    hashing or psycopg; this gives PostgreSQL's own error (22021) before any routing. Looks
    into lists (arrays) without recursion. A NUL is valid UTF-8: the partition refuses it.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError as exc:
                    bad = v[exc.start : exc.end].encode("utf-8", "surrogatepass")
                    codes = " ".join(f"0x{b:02x}" for b in bad)
                    raise CallError(
                        f'invalid byte sequence for encoding "UTF8": {codes}', sqlstate="22021"
                    ) from None
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def normalize(t: TypeRef, value: Any) -> Any:
    """Python value -> the value routing sees and psycopg sends (lists for arrays)."""
    if value is None or isinstance(value, TypedNull):
        return None
    if isinstance(value, (str, list, tuple)):
        check_utf8(value)
    if not t.array and t.name in ("json", "jsonb") and not isinstance(value, str):
        # Python objects go as JSON documents (a str is already JSON text).
        return (Jsonb if t.name == "jsonb" else Json)(value)
    if t.array:
        if isinstance(value, str):
            value = parse_array_literal(value)
        elif isinstance(value, (pd.Series, np.ndarray)):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        if isinstance(value, list):
            return [normalize(t.element, v) if not isinstance(v, list) else v for v in value]
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if (
        t.is_builtin
        and t.name in ("text", "varchar", "bpchar", "name")
        and not isinstance(value, str)
    ):
        return str(value)
    return t.routing_value(value)


def bind_arguments(fn: ProxyFunction, args_: Sequence[Any], kwargs: Mapping[str, Any]) -> list[Any]:
    """Positional and keyword values -> one normalised value per IN/INOUT argument.

    Missing arguments take their constant DEFAULT; values are converted as the declared
    type's input function would (CallError with 22P02 / 22003 when they do not fit).
    """
    args = fn.args
    values: list[Any] = list(args_) + [_MISSING] * (len(args) - len(args_))
    for key, value in kwargs.items():
        idx = next((i for i, p in enumerate(args) if (p.name or "").lower() == key.lower()), None)
        if idx is None:
            raise CallError(f'function {fn.name} has no argument "{key}"')
        if values[idx] is not _MISSING:
            raise CallError(f'argument "{key}" given twice')
        values[idx] = value
    out = []
    for p, v in zip(args, values, strict=True):
        if v is _MISSING:
            if not p.has_default:
                raise CallError(f"function {fn.name}: argument {p.name or '?'} is missing")
            if not p.default_is_constant:
                raise CallError(
                    f"function {fn.name}: the DEFAULT of argument {p.name or '?'} is an "
                    "expression the kernel does not evaluate; pass the argument explicitly"
                )
            v = p.default
        try:
            out.append(normalize(p.type, v))
        except (ValueError, TypeError) as exc:
            text = str(exc)
            state = "22003" if "out of range" in text else "22P02"
            raise CallError(text, sqlstate=state) from None
    return out


def normalize_column(t: TypeRef, column: Sequence[Any]) -> list[Any]:
    """:func:`normalize` over a whole column, with fast paths for the common cases.

    Integer columns that are all ``int`` are range-checked once (min/max), text columns
    that are all ``str`` pass through: no per-value work for batched key lookups.
    """
    values = column.tolist() if isinstance(column, (np.ndarray, pd.Series)) else list(column)
    if t.is_builtin and not t.array:
        bounds = INT_TYPES.get(t.name)
        present = [v for v in values if v is not None]
        if bounds is not None and all(type(v) is int for v in present):
            if present and (min(present) < bounds[0] or max(present) > bounds[1]):
                bad = next(v for v in present if not bounds[0] <= v <= bounds[1])
                kind = {"int2": "smallint", "int4": "integer", "int8": "bigint"}[t.name]
                raise CallError(f'value "{bad}" is out of range for type {kind}', sqlstate="22003")
            return values
        if t.name in _TEXT_TYPES and all(type(v) is str for v in present):
            check_utf8("".join(present))  # one C-speed pass over the whole column
            return values
    out = []
    for v in values:
        try:
            out.append(normalize(t, v))
        except (ValueError, TypeError) as exc:
            text = str(exc)
            raise CallError(text, sqlstate="22003" if "out of range" in text else "22P02") from None
    return out
