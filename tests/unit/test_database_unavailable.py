"""A database that cannot be reached (refused, or out of connections) is 503
``service_unavailable`` for the user, which the gateway's callers and the fault driver retry,
never a 500."""

import pytest

from hqcore.config import normalise_database_url
from hqcore.db import Database
from hqcore.errors import ServiceUnavailable


def test_fault_an_unreachable_database_is_service_unavailable_not_internal_error():
    database = Database(normalise_database_url("postgresql://postgres@127.0.0.1:1/nowhere"))
    with pytest.raises(ServiceUnavailable) as refused:
        with database.transaction():
            pytest.fail("no transaction may begin")
    assert refused.value.http_status == 503
    assert refused.value.code == "service_unavailable"
    assert "127.0.0.1" not in refused.value.message  # no internals for the user
    database.dispose()


def test_a_reachable_database_still_commits_and_rolls_back(tmp_path):
    import sqlalchemy as sa

    database = Database(f"sqlite:///{tmp_path}/t.db")
    with database.transaction() as conn:
        conn.execute(sa.text("create table t (x integer)"))
        conn.execute(sa.text("insert into t values (1)"))
    with pytest.raises(RuntimeError):
        with database.transaction() as conn:
            conn.execute(sa.text("insert into t values (2)"))
            raise RuntimeError("roll back")
    with database.transaction() as conn:
        assert conn.execute(sa.text("select x from t")).scalars().all() == [1]
    database.dispose()
