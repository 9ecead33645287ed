"""``python -m plproxy_magic``: the RDS PL/Proxy tutorial on embedded PostgreSQL.

Starts a 2-partition sandbox cluster, creates the data-node functions on the partitions,
defines the tutorial's proxy functions, and shows horizontal sharding (RUN ON ANY), SQL
replication (RUN ON ALL + TARGET) and CONNECT mode. Nothing to install but this package.
"""

from __future__ import annotations

import pandas as pd

from plproxy_magic.sandbox import sandbox
from plproxy_magic.session import Session

DATA_NODE_SQL = """
CREATE TABLE users (userid int, name text);
CREATE OR REPLACE FUNCTION insert_user(i_id int, i_name text) RETURNS integer
AS $$ INSERT INTO users (userid, name) VALUES ($1, $2); SELECT 1; $$ LANGUAGE SQL;
CREATE OR REPLACE FUNCTION trunc_user() RETURNS integer
AS $$ TRUNCATE TABLE users; SELECT 1; $$ LANGUAGE SQL;
"""

PROXY_SQL = """
CREATE OR REPLACE FUNCTION insert_user(i_id int, i_name text) RETURNS integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ANY;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION get_user_name() RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL;
    SELECT userid, name FROM users;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION trunc_user() RETURNS SETOF integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION insert_user_2(i_id int, i_name text) RETURNS SETOF integer AS $$
    CLUSTER 'cluster_srv1'; RUN ON ALL; TARGET insert_user;
$$ LANGUAGE plproxy;
CREATE OR REPLACE FUNCTION get_user_name_2() RETURNS TABLE(userid int, name text) AS $$
    CLUSTER 'cluster_srv1'; RUN ON ANY;
    SELECT userid, name FROM users;
$$ LANGUAGE plproxy;
"""

USERS = ["Sven", "Marko", "Steve", "lottu", "rax", "ak", "jack", "molica", "pg", "oracle"]


def _show(title: str, df: pd.DataFrame) -> None:
    print(f"\n== {title}\n{df.to_string(index=False)}")


def main() -> None:
    """Run the tutorial and print each step's result."""
    with Session() as s:
        sb = sandbox("cluster_srv1", partitions=2, session=s, connection_lifetime=1800)
        print(sb)
        s.run("cluster_srv1", DATA_NODE_SQL)
        s.execute(PROXY_SQL)

        # Horizontal sharding: each insert goes to one random partition.
        for i, name in enumerate(USERS):
            s.call("insert_user", 1001 + i, name)
        for p in range(2):
            _show(f"partition {p}", s.run("cluster_srv1", "SELECT * FROM users", run_on=p))
        _show(
            "SELECT * FROM get_user_name()  -- RUN ON ALL", s.sql("SELECT * FROM get_user_name()")
        )

        # SQL replication: RUN ON ALL + TARGET writes every row to every partition.
        _show("SELECT trunc_user()", s.sql("SELECT trunc_user()"))
        for i, name in zip(range(1004, 1008), ["lottu", "rax", "ak", "jack"], strict=True):
            s.call("insert_user_2", i, name)
        _show(
            "SELECT * FROM get_user_name_2()  -- RUN ON ANY",
            s.sql("SELECT * FROM get_user_name_2()"),
        )

        # CONNECT mode: one database by connect string, no cluster needed.
        s.execute(
            "CREATE OR REPLACE FUNCTION get_user_name_3() RETURNS TABLE(userid int, name text) "
            f"AS $$ CONNECT '{sb.partitions[0]}'; SELECT userid, name FROM users; $$ "
            "LANGUAGE plproxy"
        )
        _show(
            "SELECT * FROM get_user_name_3()  -- CONNECT", s.sql("SELECT * FROM get_user_name_3()")
        )


if __name__ == "__main__":
    main()
