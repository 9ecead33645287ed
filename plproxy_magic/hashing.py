"""PostgreSQL's routing hash functions, computed in Python and bit-identical to the server.

This module owns ``hashtext``, ``hashbpchar``, ``hashint2``/``hashint4``/``hashint8``,
``uuid_hash`` and their ``*extended(value, seed)`` variants: the functions PL/Proxy's
``RUN ON hashtext($1)`` and native ``PARTITION BY HASH`` route with. Each is PostgreSQL's
``hash_bytes``/``hash_bytes_uint32`` (``src/common/hashfn.c``, a lookup3 variant) plus the SQL
wrapper's conventions (``src/backend/access/hash/hashfunc.c``).

Conventions (they decide whether a row lands on the right partition):

* **Little-endian is pinned.** Words are read little-endian whatever the host, which matches
  servers on x86-64 and ARM64. Big-endian servers (s390x, some POWER) hash text differently.
* **Text is hashed as its bytes in the database encoding**, UTF-8 by default (``encoding=`` takes
  a Python codec name for other databases). No Unicode normalisation: ``'é'`` and
  ``'e\\u0301'`` hash differently, as on the server. ``bytes`` are hashed as given.
* **Deterministic collations only.** With a non-deterministic ICU collation the server hashes
  a sort key instead of the bytes; no Python function can reproduce that.
* Results use SQL's types: a signed ``int4`` for the standard hashes, a signed ``int8`` for the
  extended ones (whose low 32 bits with seed 0 equal the standard hash). Seeds are ``int8``;
  negative seeds are taken as their two's-complement ``uint64``, as the server does.
* Inputs are type-checked like the SQL functions: ``hashint4`` refuses values outside ``int4``
  (``ValueError: integer out of range``), and ``bool`` and ``float`` are refused with
  ``TypeError`` because PL/Proxy refuses them as hash values.

Scalars (``str``/``bytes``, ``int``, ``uuid.UUID``) give a Python ``int``, and ``None`` gives
``None`` (the SQL functions are strict). Vectors (``list``, ``tuple``, 1-D numpy array, pandas
``Series``/``Index``/array) give a numpy ``int32`` array (``int64`` for extended variants). If
the vector holds nulls (``None``, ``NaN``, ``pd.NA``) the result is instead a pandas nullable
``Int32``/``Int64`` array with those positions masked. Vectors are hashed column-wise with
numpy ``uint32`` arithmetic, whose wrap-around is exactly C's; scalars use plain Python ints,
which is faster for one value than building arrays.
"""

from __future__ import annotations

import codecs
import struct
import sys
import uuid
from collections.abc import Sequence
from itertools import repeat
from typing import TYPE_CHECKING, Any, Final, overload

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from typing import TypeAlias

    import pandas as pd
    from pandas.api.extensions import ExtensionArray

    #: Vector inputs; every other non-scalar is refused.
    Vector: TypeAlias = (
        list[Any] | tuple[Any, ...] | npt.NDArray[Any] | pd.Series[Any] | pd.Index[Any]
    ) | ExtensionArray
    Int32Result: TypeAlias = npt.NDArray[np.int32] | pd.arrays.IntegerArray
    Int64Result: TypeAlias = npt.NDArray[np.int64] | pd.arrays.IntegerArray
    _Result: TypeAlias = Int32Result | Int64Result
    Text: TypeAlias = str | bytes | bytearray | memoryview
    Seed: TypeAlias = int | np.integer[Any]

__all__ = [
    "hashbpchar",
    "hashbpcharextended",
    "hashint2",
    "hashint2extended",
    "hashint4",
    "hashint4extended",
    "hashint8",
    "hashint8extended",
    "hashtext",
    "hashtextextended",
    "uuid_hash",
    "uuid_hash_extended",
]

_U32 = npt.NDArray[np.uint32]
_I64 = npt.NDArray[np.int64]
_Mask = npt.NDArray[np.bool_]
_Items = Sequence[Any] | npt.NDArray[Any]

_M: Final = 0xFFFFFFFF
_M64: Final = 0xFFFFFFFFFFFFFFFF
#: hash_bytes starts a = b = c = 0x9e3779b9 + len + 3923095 (not lookup3's 0xdeadbeef).
_INIT: Final = 0x9E3779B9 + 3923095
#: Vectors are hashed in chunks this long: the ~100 ufunc calls per chunk then run on arrays
#: that stay in L2 cache, which measured 5x faster than whole-array passes at 1M values.
_CHUNK: Final = 1 << 16
#: Keeps the low 0..4 bytes of a little-endian word, to zero-pad a tail as hash_bytes does.
_TAIL_MASKS: Final = np.array([0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF], dtype=np.uint32)


class _IntType:
    """Range and error text of one SQL integer type."""

    __slots__ = ("fold", "hi", "lo", "message")

    def __init__(self, bits: int, message: str) -> None:
        self.lo = -(1 << (bits - 1))
        self.hi = (1 << (bits - 1)) - 1
        self.message = message  # PostgreSQL's own wording for the cast that would fail
        self.fold = bits == 64  # hashint8 folds the high word into the low one first


_INT2 = _IntType(16, "smallint out of range")
_INT4 = _IntType(32, "integer out of range")
_INT8 = _IntType(64, "bigint out of range")


# --- scalar core: plain Python ints, masked to 32 bits after every operation ---------------


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    # rot(x, k) is written (x << k) ^ (x >> (32 - k)): the halves share no bits, and the
    # bits above 32 vanish in the final & _M.
    a = ((a - c) ^ (c << 4) ^ (c >> 28)) & _M
    c = (c + b) & _M
    b = ((b - a) ^ (a << 6) ^ (a >> 26)) & _M
    a = (a + c) & _M
    c = ((c - b) ^ (b << 8) ^ (b >> 24)) & _M
    b = (b + a) & _M
    a = ((a - c) ^ (c << 16) ^ (c >> 16)) & _M
    c = (c + b) & _M
    b = ((b - a) ^ (a << 19) ^ (a >> 13)) & _M
    a = (a + c) & _M
    c = ((c - b) ^ (b << 4) ^ (b >> 28)) & _M
    b = (b + a) & _M
    return a, b, c


def _final(a: int, b: int, c: int) -> tuple[int, int]:
    """hashfn.c's final(a, b, c); returns (b, c), all the callers need."""
    c = ((c ^ b) - ((b << 14) | (b >> 18))) & _M
    a = ((a ^ c) - ((c << 11) | (c >> 21))) & _M
    b = ((b ^ a) - ((a << 25) | (a >> 7))) & _M
    c = ((c ^ b) - ((b << 16) | (b >> 16))) & _M
    a = ((a ^ c) - ((c << 4) | (c >> 28))) & _M
    b = ((b ^ a) - ((a << 14) | (a >> 18))) & _M
    c = ((c ^ b) - ((b << 24) | (b >> 8))) & _M
    return b, c


def _seeded(n: int, seed: int) -> tuple[int, int, int]:
    """Initial (a, b, c) for a key of n bytes and a uint64 seed (0: the standard hash)."""
    a = b = c = (_INIT + n) & _M
    if seed:
        a = (a + (seed >> 32)) & _M
        b = (b + (seed & _M)) & _M
        a, b, c = _mix(a, b, c)
    return a, b, c


def _hash_bytes(data: bytes, seed: int) -> tuple[int, int]:
    """hash_bytes_extended(data, seed) as (b, c); c alone is hash_bytes when seed is 0."""
    n = len(data)
    a, b, c = _seeded(n, seed)
    full = n // 12  # the loop runs while >= 12 bytes remain (lookup3 stops at > 12)
    if full:
        words = iter(struct.unpack_from(f"<{3 * full}I", data))
        for x, y, z in zip(words, words, words, strict=True):
            a, b, c = _mix((a + x) & _M, (b + y) & _M, (c + z) & _M)
    x, y, z = struct.unpack("<3I", data[12 * full :].ljust(12, b"\0"))
    # The tail's 9th-11th bytes go to c shifted left by 8: its low byte is "reserved for the
    # length" (a lookup2 leftover), and final() runs even for an empty key.
    return _final((a + x) & _M, (b + y) & _M, (c + (z << 8)) & _M)


def _hash_uint32(k: int, seed: int) -> tuple[int, int]:
    """hash_bytes_uint32_extended(k, seed) as (b, c)."""
    a, b, c = _seeded(4, seed)
    return _final((a + k) & _M, b, c)


def _int4(c: int) -> int:
    return c - (1 << 32) if c & 0x80000000 else c


def _int8(b: int, c: int) -> int:
    return ((b << 32) | c) - (1 << 64) if b & 0x80000000 else (b << 32) | c


# --- vector core: numpy uint32 arrays, one column of a, b or c per chunk -------------------


def _rot(x: _U32, k: int, t: _U32, u: _U32) -> _U32:
    np.left_shift(x, k, out=t)
    np.right_shift(x, 32 - k, out=u)
    return np.bitwise_or(t, u, out=t)


def _vmix(a: _U32, b: _U32, c: _U32, t: _U32, u: _U32) -> None:
    # Every line of mix() is x -= z; x ^= rot(z, k); z += y.
    for x, y, z, k in (
        (a, b, c, 4),
        (b, c, a, 6),
        (c, a, b, 8),
        (a, b, c, 16),
        (b, c, a, 19),
        (c, a, b, 4),
    ):
        np.subtract(x, z, out=x)
        np.bitwise_xor(x, _rot(z, k, t, u), out=x)
        np.add(z, y, out=z)


def _vfinal(a: _U32, b: _U32, c: _U32, t: _U32, u: _U32) -> None:
    # Every line of final() is x ^= y; x -= rot(y, k).
    for x, y, k in (
        (c, b, 14),
        (a, c, 11),
        (b, a, 25),
        (c, b, 16),
        (a, c, 4),
        (b, a, 14),
        (c, b, 24),
    ):
        np.bitwise_xor(x, y, out=x)
        np.subtract(x, _rot(y, k, t, u), out=x)


def _vhash_uint32(k: _U32, seed: int) -> tuple[_U32, _U32]:
    """hash_bytes_uint32_extended over an array, as (b, c) arrays."""
    a0, b0, c0 = _seeded(4, seed)  # a key-independent start: computed once, in Python
    n = len(k)
    b_out = np.empty(n, np.uint32)
    c_out = np.empty(n, np.uint32)
    a, t, u = (np.empty(min(n, _CHUNK), np.uint32) for _ in range(3))
    for s in range(0, n, _CHUNK):
        m = min(_CHUNK, n - s)
        b, c = b_out[s : s + m], c_out[s : s + m]
        np.add(k[s : s + m], a0, out=a[:m])
        b.fill(b0)
        c.fill(c0)
        _vfinal(a[:m], b, c, t[:m], u[:m])
    return b_out, c_out


def _vhash_bytes(flat: bytes, lens: _I64, seed: int) -> tuple[_U32, _U32]:
    """hash_bytes_extended over keys stored back to back in ``flat``, as (b, c) arrays."""
    total, n = len(flat), len(lens)
    starts = np.zeros(n, np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
    padded = np.frombuffer(flat + bytes(16), np.uint8)
    # A uint32 "view" with a stride of one byte: words[p] is the little-endian word at byte
    # offset p, so a key's 12-byte blocks are three gathers with no copy or realignment.
    words = np.ndarray((total + 12,), np.dtype("<u4"), buffer=padded, strides=(1,))
    b_out = np.empty(n, np.uint32)
    c_out = np.empty(n, np.uint32)
    for s in range(0, n, _CHUNK):
        off, ln = starts[s : s + _CHUNK], lens[s : s + _CHUNK]
        full = ln // 12
        order = None
        if len(full) and full.max() > 0:
            # Sorted by block count (descending), the keys still in the loop at block j are a
            # prefix, so each block costs a slice of the arrays and not a mask.
            order = np.argsort(-full, kind="stable")
            off, ln, full = off[order], ln[order], full[order]
        m = len(ln)
        a = (ln + _INIT).astype(np.uint32)
        b, c = a.copy(), a.copy()
        t, u = np.empty(m, np.uint32), np.empty(m, np.uint32)
        if seed:
            a += seed >> 32
            b += seed & _M
            _vmix(a, b, c, t, u)
        if order is not None:
            # still_in[j] = number of keys with at least j full blocks
            still_in = np.cumsum(np.bincount(full)[::-1])[::-1]
            for j in range(1, len(still_in)):
                q = int(still_in[j])
                p = off[:q] + 12 * (j - 1)
                a[:q] += words[p]
                b[:q] += words[p + 4]
                c[:q] += words[p + 8]
                _vmix(a[:q], b[:q], c[:q], t[:q], u[:q])
        tail = off + 12 * full
        rem = ln - 12 * full
        a += words[tail] & _TAIL_MASKS[np.minimum(rem, 4)]
        b += words[tail + 4] & _TAIL_MASKS[np.clip(rem - 4, 0, 4)]
        c += (words[tail + 8] & _TAIL_MASKS[np.clip(rem - 8, 0, 4)]) << 8
        _vfinal(a, b, c, t, u)
        dest = slice(s, s + m) if order is None else order + s
        b_out[dest] = b
        c_out[dest] = c
    return b_out, c_out


# --- input checking and conversion ----------------------------------------------------------


def _is_pandas(value: object) -> bool:
    # pandas objects exist only once pandas is imported, so a scalar call never imports it.
    pd = sys.modules.get("pandas")
    return pd is not None and isinstance(
        value, pd.Series | pd.Index | pd.api.extensions.ExtensionArray
    )


def _is_vector(value: object) -> bool:
    return isinstance(value, list | tuple | np.ndarray) or _is_pandas(value)


def _is_null(value: object) -> bool:
    if value is None or (isinstance(value, float) and value != value):
        return True
    pd = sys.modules.get("pandas")
    return pd is not None and (value is pd.NA or value is pd.NaT)


def _seed64(seed: object, name: str) -> int:
    """An int8 seed as the uint64 the server reinterprets it as."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"{name}() seed must be int, not {type(seed).__name__}")
    s = int(seed)
    if not _INT8.lo <= s <= _INT8.hi:
        raise ValueError(_INT8.message)
    return s & _M64


def _check_int(value: object, kind: _IntType, name: str, where: str = "") -> int:
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}() argument must be int, not {type(value).__name__}{where}")
    v = int(value)
    if not kind.lo <= v <= kind.hi:
        raise ValueError(kind.message + where)
    return v


def _as_vector(value: object, name: str, fill: object = None) -> tuple[_Items, _Mask | None]:
    """The elements of a vector (list, tuple or 1-D ndarray) and pandas' null mask, if any.

    Nulls of a pandas extension array are replaced by ``fill`` (text passes ``""`` to keep
    its fast path; None makes the element-wise paths see a null).
    """
    if isinstance(value, list | tuple):
        return value, None
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise ValueError(f"{name}() takes 1-D arrays, not {value.ndim}-D")
        return value, None
    import pandas as pd  # only reached for pandas objects, so it is already imported

    data: Any = value
    dtype = data.dtype
    if isinstance(dtype, np.dtype):
        return data.to_numpy(), None  # object columns keep None/NaN; checked element-wise
    mask = np.asarray(pd.isna(data), dtype=np.bool_)
    if dtype.kind in "iu":  # nullable Int64 & co; the values under the mask are junk
        return data.to_numpy(dtype=dtype.numpy_dtype, na_value=0), mask
    if dtype.kind in "bf":
        raise TypeError(f"{name}() cannot hash {dtype} values")
    arr = data.to_numpy(dtype=object, copy=True)  # without copy=True this may be a view
    arr[mask] = fill
    return arr, mask


def _int_objects(items: _Items, kind: _IntType, name: str) -> tuple[_I64, _Mask]:
    """The slow path for vectors holding nulls or odd element types: one element at a time."""
    out = np.zeros(len(items), np.int64)
    mask = np.zeros(len(items), np.bool_)
    for i, v in enumerate(items):
        if _is_null(v):
            mask[i] = True
        else:
            out[i] = _check_int(v, kind, name, f" (position {i})")
    return out, mask


def _fast_int_types(types: set[type]) -> bool:
    # Not bool (its own type here), and not uint64: numpy turns a list mixing uint64 and
    # negative ints into float64.
    return all(
        t is int
        or issubclass(t, np.signedinteger)
        or (issubclass(t, np.unsignedinteger) and np.dtype(t).itemsize < 8)
        for t in types
    )


def _int_vector(
    value: object, kind: _IntType, name: str
) -> tuple[npt.NDArray[np.integer[Any]], _Mask | None]:
    """A checked integer vector (any integer dtype, every value in range) and its null mask."""
    items, mask = _as_vector(value, name)
    arr: npt.NDArray[Any]
    if isinstance(items, np.ndarray):
        arr = items
    elif _fast_int_types(set(map(type, items))):  # a C-speed scan over the elements
        try:
            arr = np.array(items, dtype=np.int64)
        except OverflowError:
            arr = np.array(items, dtype=object)  # beyond int64: the slow path names it
    else:
        arr = np.fromiter(items, dtype=object, count=len(items))
    if arr.dtype.kind == "O":
        arr, mask = _int_objects(arr, kind, name)
    elif arr.dtype.kind not in "iu":
        got = {"b": "bool", "f": "float", "c": "complex"}.get(arr.dtype.kind, "non-int")
        raise TypeError(f"{name}() argument must be int, not {got} (dtype {arr.dtype})")
    info = np.iinfo(arr.dtype)
    if (info.min < kind.lo or info.max > kind.hi) and len(arr):
        bad = (arr < kind.lo) | (arr > kind.hi)
        if mask is not None:
            bad &= ~mask
        if bad.any():
            raise ValueError(f"{kind.message} (position {int(np.argmax(bad))})")
    return arr, mask


def _text_bytes(value: object, encoding: str, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode(encoding)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise TypeError(f"{name}() argument must be str or bytes, not {type(value).__name__}")


def _strip_blanks(value: Any) -> Any:
    # bpchar's trailing blanks are not significant: only ' ', as PostgreSQL's bcTruelen.
    if isinstance(value, str):
        return value.rstrip(" ")
    if isinstance(value, bytes):
        return value.rstrip(b" ")
    return value


def _text_vector(
    value: object, encoding: str, bpchar: bool, name: str
) -> tuple[bytes, _I64, _Mask | None]:
    """The keys' bytes back to back, each key's byte length, and the null mask."""
    items, mask = _as_vector(value, name, fill="")
    if isinstance(items, np.ndarray):
        if items.dtype.kind not in "USTO":
            raise TypeError(f"{name}() argument must be str or bytes, not dtype {items.dtype}")
        items = items.tolist()
    if bpchar:
        items = list(map(_strip_blanks, items))
    n = len(items)
    try:
        joined = "".join(items)  # fails unless every element is a str
    except TypeError:
        pass
    else:
        flat = joined.encode(encoding)
        if len(flat) == len(joined):  # one byte per character: ASCII, or a 1-byte encoding
            return flat, np.fromiter(map(len, items), np.int64, n), mask
        if codecs.lookup(encoding).name == "utf-8":
            # Byte lengths without encoding key by key: each character has exactly one byte
            # that is not a continuation byte (0b10xxxxxx), so a key's character offset maps
            # to its byte offset through the positions of those lead bytes.
            chars = np.zeros(n + 1, np.int64)
            np.cumsum(np.fromiter(map(len, items), np.int64, n), out=chars[1:])
            u8 = np.frombuffer(flat, np.uint8)
            lead = np.append(np.flatnonzero((u8 & 0xC0) != 0x80), len(flat))
            return flat, np.diff(lead[chars]), mask
        encoded = list(map(str.encode, items, repeat(encoding)))
        return b"".join(encoded), np.fromiter(map(len, encoded), np.int64, n), mask
    try:
        return b"".join(items), np.fromiter(map(len, items), np.int64, n), mask
    except TypeError:
        pass
    # Nulls, or str and bytes mixed: one element at a time.
    mask = np.zeros(n, np.bool_) if mask is None else mask.copy()
    encoded = []
    for i, v in enumerate(items):
        if _is_null(v):
            mask[i] = True
            encoded.append(b"")
        else:
            try:
                encoded.append(_text_bytes(v, encoding, name))
            except TypeError as exc:
                raise TypeError(f"{exc} (position {i})") from None
    return b"".join(encoded), np.fromiter(map(len, encoded), np.int64, n), mask


def _uuid_bytes(value: object, name: str) -> bytes:
    if isinstance(value, uuid.UUID):
        return value.bytes
    if isinstance(value, str):
        return uuid.UUID(value).bytes  # ValueError for a malformed uuid, as uuid_in
    if isinstance(value, bytes) and len(value) == 16:
        return value
    raise TypeError(
        f"{name}() argument must be uuid.UUID, str or 16 bytes, not {type(value).__name__}"
    )


def _uuid_vector(value: object, name: str) -> tuple[bytes, _I64, _Mask]:
    # One element at a time: parsing uuid text has no vectorised form here, and uuid keys
    # are not a speed target.
    items, mask = _as_vector(value, name)
    nulls = np.zeros(len(items), np.bool_) if mask is None else mask.copy()
    keys = []
    for i, v in enumerate(items):
        if nulls[i] or _is_null(v):
            nulls[i] = True
            keys.append(bytes(16))
        else:
            try:
                keys.append(_uuid_bytes(v, name))
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"{exc} (position {i})") from None
    return b"".join(keys), np.full(len(items), 16, np.int64), nulls


# --- dispatch and results -------------------------------------------------------------------


def _result(b: _U32, c: _U32, extended: bool, mask: _Mask | None) -> _Result:
    out: npt.NDArray[np.int32] | npt.NDArray[np.int64] = c.view(np.int32)
    if extended:
        out = ((b.astype(np.uint64) << 32) | c).view(np.int64)
    if mask is None or not mask.any():
        return out
    import pandas as pd

    out[mask] = 0
    return pd.arrays.IntegerArray(out, mask)


def _text_hash(
    value: object, seed: int, extended: bool, encoding: str, bpchar: bool, name: str
) -> int | _Result | None:
    if isinstance(value, str | bytes | bytearray | memoryview):
        data = _text_bytes(value, encoding, name)
        if bpchar:
            data = data.rstrip(b" ")
        b, c = _hash_bytes(data, seed)
        return _int8(b, c) if extended else _int4(c)
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _text_hash(value.item(), seed, extended, encoding, bpchar, name)
    if not _is_vector(value):
        raise TypeError(f"{name}() argument must be str or bytes, not {type(value).__name__}")
    flat, lens, mask = _text_vector(value, encoding, bpchar, name)
    return _result(*_vhash_bytes(flat, lens, seed), extended, mask)


def _int_hash(
    value: object, seed: int, extended: bool, kind: _IntType, name: str
) -> int | _Result | None:
    if type(value) is int:  # the common scalar, checked first: routing calls this per row
        v = value
        if not kind.lo <= v <= kind.hi:
            raise ValueError(kind.message)
    elif value is None:
        return None
    elif isinstance(value, np.ndarray) and value.ndim == 0:
        return _int_hash(value.item(), seed, extended, kind, name)
    elif _is_vector(value):
        arr, mask = _int_vector(value, kind, name)
        if kind.fold:
            # hashint8: lo ^= (v >= 0 ? hi : ~hi); v >> 63 is all ones exactly when v < 0.
            v64 = arr.astype(np.int64, copy=False)
            k = v64.astype(np.uint32)
            k ^= (v64 >> 32).astype(np.uint32) ^ (v64 >> 63).astype(np.uint32)
        else:
            # int2/int4 hash the value's 32-bit two's-complement pattern (int2 sign-extended
            # first), which is what a C cast to uint32 gives and what astype does.
            k = arr.astype(np.uint32)
        return _result(*_vhash_uint32(k, seed), extended, mask)
    else:
        v = _check_int(value, kind, name)
    if kind.fold:
        v ^= (v >> 32) if v >= 0 else ~(v >> 32)
    b, c = _hash_uint32(v & _M, seed)
    return _int8(b, c) if extended else _int4(c)


def _uuid_hash(value: object, seed: int, extended: bool, name: str) -> int | _Result | None:
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return _uuid_hash(value.item(), seed, extended, name)
    if _is_vector(value):
        flat, lens, mask = _uuid_vector(value, name)
        return _result(*_vhash_bytes(flat, lens, seed), extended, mask)
    b, c = _hash_bytes(_uuid_bytes(value, name), seed)
    return _int8(b, c) if extended else _int4(c)


# --- public API -----------------------------------------------------------------------------
# Each function has three overloads so callers' types stay precise: None -> None (strict),
# scalar -> int, vector -> array.


@overload
def hashtext(value: None, /, *, encoding: str = ...) -> None: ...
@overload
def hashtext(value: Text, /, *, encoding: str = ...) -> int: ...
@overload
def hashtext(value: Vector, /, *, encoding: str = ...) -> Int32Result: ...
def hashtext(value: object, /, *, encoding: str = "utf-8") -> int | _Result | None:
    """``hashtext(text)``, also varchar's hash: int4 hash of the text's bytes in ``encoding``.

    >>> hashtext("foo")
    1955559433
    """
    return _text_hash(value, 0, False, encoding, False, "hashtext")


@overload
def hashtextextended(value: None, seed: Seed, /, *, encoding: str = ...) -> None: ...
@overload
def hashtextextended(value: Text, seed: Seed, /, *, encoding: str = ...) -> int: ...
@overload
def hashtextextended(value: Vector, seed: Seed, /, *, encoding: str = ...) -> Int64Result: ...
def hashtextextended(
    value: object, seed: Seed, /, *, encoding: str = "utf-8"
) -> int | _Result | None:
    """``hashtextextended(text, int8)``: the int8 hash; at seed 0 its low 32 bits are hashtext."""
    name = "hashtextextended"
    return _text_hash(value, _seed64(seed, name), True, encoding, False, name)


@overload
def hashbpchar(value: None, /, *, encoding: str = ...) -> None: ...
@overload
def hashbpchar(value: Text, /, *, encoding: str = ...) -> int: ...
@overload
def hashbpchar(value: Vector, /, *, encoding: str = ...) -> Int32Result: ...
def hashbpchar(value: object, /, *, encoding: str = "utf-8") -> int | _Result | None:
    """``hashbpchar(char(n))``: ``hashtext`` of the value without its trailing blanks."""
    return _text_hash(value, 0, False, encoding, True, "hashbpchar")


@overload
def hashbpcharextended(value: None, seed: Seed, /, *, encoding: str = ...) -> None: ...
@overload
def hashbpcharextended(value: Text, seed: Seed, /, *, encoding: str = ...) -> int: ...
@overload
def hashbpcharextended(value: Vector, seed: Seed, /, *, encoding: str = ...) -> Int64Result: ...
def hashbpcharextended(
    value: object, seed: Seed, /, *, encoding: str = "utf-8"
) -> int | _Result | None:
    """``hashbpcharextended(char(n), int8)``: trailing blanks stripped, then hashed."""
    name = "hashbpcharextended"
    return _text_hash(value, _seed64(seed, name), True, encoding, True, name)


@overload
def hashint2(value: None, /) -> None: ...
@overload
def hashint2(value: int | np.integer[Any], /) -> int: ...
@overload
def hashint2(value: Vector, /) -> Int32Result: ...
def hashint2(value: object, /) -> int | _Result | None:
    """``hashint2(int2)``: sign-extended, so equal to ``hashint4`` of the same value."""
    return _int_hash(value, 0, False, _INT2, "hashint2")


@overload
def hashint4(value: None, /) -> None: ...
@overload
def hashint4(value: int | np.integer[Any], /) -> int: ...
@overload
def hashint4(value: Vector, /) -> Int32Result: ...
def hashint4(value: object, /) -> int | _Result | None:
    """``hashint4(int4)``: the hash PL/Proxy users route integer keys with.

    >>> hashint4(42)
    1509752520
    """
    return _int_hash(value, 0, False, _INT4, "hashint4")


@overload
def hashint8(value: None, /) -> None: ...
@overload
def hashint8(value: int | np.integer[Any], /) -> int: ...
@overload
def hashint8(value: Vector, /) -> Int32Result: ...
def hashint8(value: object, /) -> int | _Result | None:
    """``hashint8(int8)``: folds the high word into the low one, then hashes like hashint4.

    The fold is many-to-one by design: ``hashint8(2**32) == hashint4(1)``, and every int8
    within int4's range hashes like that int4.
    """
    return _int_hash(value, 0, False, _INT8, "hashint8")


@overload
def hashint2extended(value: None, seed: Seed, /) -> None: ...
@overload
def hashint2extended(value: int | np.integer[Any], seed: Seed, /) -> int: ...
@overload
def hashint2extended(value: Vector, seed: Seed, /) -> Int64Result: ...
def hashint2extended(value: object, seed: Seed, /) -> int | _Result | None:
    """``hashint2extended(int2, int8)``."""
    name = "hashint2extended"
    return _int_hash(value, _seed64(seed, name), True, _INT2, name)


@overload
def hashint4extended(value: None, seed: Seed, /) -> None: ...
@overload
def hashint4extended(value: int | np.integer[Any], seed: Seed, /) -> int: ...
@overload
def hashint4extended(value: Vector, seed: Seed, /) -> Int64Result: ...
def hashint4extended(value: object, seed: Seed, /) -> int | _Result | None:
    """``hashint4extended(int4, int8)``: also what ``PARTITION BY HASH`` on int4 uses."""
    name = "hashint4extended"
    return _int_hash(value, _seed64(seed, name), True, _INT4, name)


@overload
def hashint8extended(value: None, seed: Seed, /) -> None: ...
@overload
def hashint8extended(value: int | np.integer[Any], seed: Seed, /) -> int: ...
@overload
def hashint8extended(value: Vector, seed: Seed, /) -> Int64Result: ...
def hashint8extended(value: object, seed: Seed, /) -> int | _Result | None:
    """``hashint8extended(int8, int8)``: also pgcat's and ``PARTITION BY HASH``'s bigint hash."""
    name = "hashint8extended"
    return _int_hash(value, _seed64(seed, name), True, _INT8, name)


@overload
def uuid_hash(value: None, /) -> None: ...
@overload
def uuid_hash(value: uuid.UUID | str | bytes, /) -> int: ...
@overload
def uuid_hash(value: Vector, /) -> Int32Result: ...
def uuid_hash(value: object, /) -> int | _Result | None:
    """``uuid_hash(uuid)``: hash of the 16 raw bytes; accepts ``uuid.UUID``, text or 16 bytes."""
    return _uuid_hash(value, 0, False, "uuid_hash")


@overload
def uuid_hash_extended(value: None, seed: Seed, /) -> None: ...
@overload
def uuid_hash_extended(value: uuid.UUID | str | bytes, seed: Seed, /) -> int: ...
@overload
def uuid_hash_extended(value: Vector, seed: Seed, /) -> Int64Result: ...
def uuid_hash_extended(value: object, seed: Seed, /) -> int | _Result | None:
    """``uuid_hash_extended(uuid, int8)``."""
    name = "uuid_hash_extended"
    return _uuid_hash(value, _seed64(seed, name), True, name)
