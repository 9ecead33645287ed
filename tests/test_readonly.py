"""Read-only classification: every statement pgcat misroutes goes to the primary."""

from __future__ import annotations

import pytest

from plproxy_magic.readonly import classify

STABLE = {"now", "lower", "count", "sum", "coalesce", "current_database", "length", "hashtext"}


def volatile(name: str) -> bool:
    return name not in STABLE


READ_ONLY = [
    "SELECT 1",
    "SELECT * FROM users WHERE id = $1",
    "select u.name, count(*) from users u join orders o using (id) group by 1",
    "SELECT lower(name) FROM users WHERE created < now()",
    "WITH t AS (SELECT id FROM users) SELECT * FROM t",
    "VALUES (1), (2)",
    "SELECT 1; SELECT 2",
    "SELECT * FROM (SELECT coalesce(x, 0) FROM t) s",
]

PRIMARY = [
    ("SELECT nextval('s')", "nextval() changes or reads session state"),
    ("SELECT currval('s')", "currval() changes or reads session state"),
    ("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", "data-modifying WITH d"),
    ("WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1", "data-modifying WITH i"),
    ("SELECT * FROM t FOR UPDATE", "locking clause (FOR UPDATE/SHARE)"),
    ("SELECT * FROM (SELECT * FROM t FOR SHARE) s", "locking clause (FOR UPDATE/SHARE)"),
    ("SELECT * INTO newt FROM t", "SELECT INTO creates a table"),
    ("SELECT random()", "random() is volatile"),
    ("SELECT my_func(1)", "my_func() is volatile"),
    ("SELECT pg_advisory_lock(1)", "pg_advisory_lock() changes or reads session state"),
    ("SELECT set_config('a.b', '1', false)", "set_config() changes or reads session state"),
    ("UPDATE t SET x = 1", "UpdateStmt is not a SELECT"),
    ("INSERT INTO t VALUES (1)", "InsertStmt is not a SELECT"),
    ("SELECT 1; DELETE FROM t", "DeleteStmt is not a SELECT"),
    ("CREATE TABLE x (i int)", "CreateStmt is not a SELECT"),
    ("SET statement_timeout = 0", "VariableSetStmt is not a SELECT"),
    ("COPY t FROM STDIN", "CopyStmt is not a SELECT"),
]


@pytest.mark.parametrize("sql", READ_ONLY)
def test_read_only(sql: str) -> None:
    assert classify(sql, volatile).read_only, classify(sql, volatile).reason


@pytest.mark.parametrize(("sql", "reason"), PRIMARY)
def test_primary(sql: str, reason: str) -> None:
    verdict = classify(sql, volatile)
    assert not verdict and verdict.reason == reason


def test_unparsable_and_unknown_functions_go_to_the_primary() -> None:
    assert classify("SELEC 1", volatile).reason.startswith("does not parse")
    assert not classify("SELECT lower('x')")  # without a catalog every function is suspect
