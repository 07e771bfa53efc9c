"""Transparent retry, end to end: transactions that fail with a retryable
error are replayed by pgsluice and the client sees only the attempt that
succeeded, or, when a replay is not safe or not allowed, the original error
with nothing half applied.

Failures are injected by maybe_fail(k, sqlstate, message, detail), which
raises for the first k calls counted by a sequence: nextval survives the
rollback of a failed attempt, so the sequence tells how many attempts
reached the server. Real conflicts come from concurrent jobs at
SERIALIZABLE, the database's default here."""

import io
import time

import psycopg2
import psycopg2.errors
import pytest

import pgsluice_harness as h
import qr_util as u

pytestmark = pytest.mark.proxy_only

DB = "sluice_retry"
MAX_ATTEMPTS = 5
PG_40001 = "could not serialize access due to read/write dependencies among transactions"
RS_DETAIL = ("Serializable isolation violation on table - 100234, transactions "
             "forming the cycle are: 4412, 4419 (pid:21190)")

SCHEMA = [
    "CREATE SEQUENCE fail_calls",
    """CREATE FUNCTION maybe_fail(k int, st text, msg text, det text)
       RETURNS int LANGUAGE plpgsql AS $$
       DECLARE n bigint := nextval('fail_calls');
       BEGIN
           IF n <= k THEN
               IF det IS NULL THEN
                   RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg;
               END IF;
               RAISE EXCEPTION USING ERRCODE = st, MESSAGE = msg, DETAIL = det;
           END IF;
           RETURN 1;
       END $$""",
    # Deferred constraint triggers run at COMMIT: TG_ARGV = k, sqlstate.
    """CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
           PERFORM maybe_fail(TG_ARGV[0]::int, TG_ARGV[1],
               'could not serialize access due to read/write dependencies '
               'among transactions', NULL);
           RETURN NULL;
       END $$""",
    """CREATE FUNCTION sleep_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN PERFORM pg_sleep(3); RETURN NULL; END $$""",
    "CREATE TABLE r (v int)",
    "CREATE TABLE acct (id int, v int)",
    "CREATE TABLE audit (v int)",
    "CREATE CONSTRAINT TRIGGER audit_commit AFTER INSERT ON audit "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
    "EXECUTE FUNCTION fail_at_commit('1', '40001')",
    "CREATE TABLE amb (v int)",
    "CREATE CONSTRAINT TRIGGER amb_commit AFTER INSERT ON amb "
    "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION sleep_at_commit()",
    "CREATE TABLE results (run_id int, k int, v int)",
    "CREATE TABLE results_tmp (run_id int, k int, v int)",
]


@pytest.fixture(scope="module")
def db(pg):
    u.make_database(pg, DB)
    u.execute(h.DirectEndpoint(pg), DB, *SCHEMA)
    yield DB
    u.drop_database(pg, DB)


def retry_proxy(factory, retry=None, **settings):
    keys = {"enabled": "on", "max_attempts": MAX_ATTEMPTS, "base_delay_ms": 5,
            "max_delay_ms": 50}
    keys.update(retry or {})
    settings.update(u.JSON_LOG)
    return factory(sections={"retry": keys}, **settings)


@pytest.fixture(scope="module")
def rproxy(module_proxy_factory, db):
    """Retry on, no table queued: every replay here is the retry engine's."""
    return retry_proxy(module_proxy_factory)


@pytest.fixture
def direct(pg, db):
    return h.DirectEndpoint(pg)


@pytest.fixture
def fresh(direct):
    """Empties r, audit and acct and restarts the call counter; returns a
    function giving the calls of maybe_fail so far."""
    u.execute(direct, DB, "TRUNCATE r, audit, acct, amb",
              "INSERT INTO acct VALUES (1, 100)", "ALTER SEQUENCE fail_calls RESTART")

    def calls():
        return u.execute(direct, DB, "SELECT CASE WHEN is_called THEN last_value "
                                     "ELSE 0 END FROM fail_calls")[0][0]
    return calls


def fail_sql(k, st="40001", msg=PG_40001, det=None):
    return "maybe_fail(%d, %s, %s, %s)" % (
        k, *(psycopg2.extensions.adapt(x).getquoted().decode()
             if x is not None else "NULL" for x in (st, msg, det)))


def r_values(direct):
    return [row[0] for row in u.execute(direct, DB, "SELECT v FROM r ORDER BY v")]


# --- three shapes of work ---------------------------------------------------

def autocommit_shape(endpoint, k, **err):
    conn = u.connect(endpoint, DB, application_name="shape_auto")
    try:
        u.statement(conn, "INSERT INTO r SELECT 1 WHERE %s = 1" % fail_sql(k, **err))()
    finally:
        conn.close()
    return [1]


def one_string_shape(endpoint, k, **err):
    conn = u.connect(endpoint, DB, application_name="shape_string")
    try:
        u.statement(conn, "BEGIN; INSERT INTO r VALUES (2); SELECT %s; "
                          "INSERT INTO r VALUES (3); COMMIT;" % fail_sql(k, **err))()
    finally:
        conn.close()
    return [2, 3]


def multi_trip_shape(endpoint, k, **err):
    """psycopg2's default: an implicit BEGIN, then one round trip per call,
    with COPY FROM STDIN, SQL PREPARE/EXECUTE, a savepoint and SET LOCAL
    recorded before the statement that fails."""
    conn = u.connect(endpoint, DB, autocommit=False, application_name="shape_multi")
    try:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO r VALUES (10)")
            cur.copy_expert("COPY r FROM STDIN", io.StringIO("11\n12\n13\n"))
            cur.execute("PREPARE ins_r (int) AS INSERT INTO r VALUES ($1)")
            cur.execute("EXECUTE ins_r(14)")
            cur.execute("SAVEPOINT sp")
            cur.execute("SET LOCAL work_mem = '8MB'")
            cur.execute("SELECT v FROM r ORDER BY v")
            assert [row[0] for row in cur.fetchall()] == [10, 11, 12, 13, 14]
            cur.execute("INSERT INTO r SELECT 15 WHERE %s = 1" % fail_sql(k, **err))
            cur.execute("SHOW work_mem")
            assert cur.fetchall() == [("8MB",)]
            cur.execute("RELEASE SAVEPOINT sp")
        conn.commit()
    finally:
        conn.close()
    return [10, 11, 12, 13, 14, 15]


SHAPES = [autocommit_shape, one_string_shape, multi_trip_shape]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_injected_failures_are_hidden(rproxy, direct, fresh, shape):
    mark = rproxy.log_mark()
    want = shape(rproxy, MAX_ATTEMPTS - 2)
    assert r_values(direct) == want
    assert fresh() == MAX_ATTEMPTS - 1
    ok = u.events(rproxy, "retry_succeeded", mark)
    assert len(ok) == 1 and ok[0]["attempts"] == MAX_ATTEMPTS - 1, ok


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.__name__)
def test_persistent_failure_reaches_client_after_max_attempts(rproxy, direct, fresh,
                                                               shape):
    mark = rproxy.log_mark()
    with pytest.raises(psycopg2.Error) as exc:
        shape(rproxy, MAX_ATTEMPTS)
    assert exc.value.pgcode == "40001"
    assert exc.value.pgerror.startswith("ERROR:  " + PG_40001), exc.value.pgerror
    assert fresh() == MAX_ATTEMPTS
    assert r_values(direct) == []
    gave_up = u.events(rproxy, "retry_gave_up", mark)
    assert len(gave_up) == 1 and gave_up[0]["attempts"] == MAX_ATTEMPTS, gave_up


# --- which errors are retryable --------------------------------------------

@pytest.mark.parametrize("msg,det", [
    ("1023", RS_DETAIL),
    ("could not complete because of conflict with concurrent transaction", None),
], ids=["1023", "conflict"])
def test_redshift_wording_is_retried(rproxy, direct, fresh, msg, det):
    assert one_string_shape(rproxy, 1, st="XX000", msg=msg, det=det) == [2, 3]
    assert r_values(direct) == [2, 3]
    assert fresh() == 2


def test_other_internal_error_is_not_retried(rproxy, direct, fresh):
    with pytest.raises(psycopg2.Error) as exc:
        autocommit_shape(rproxy, 1, st="XX000", msg="disk quota exceeded")
    assert exc.value.pgcode == "XX000"
    assert "disk quota exceeded" in exc.value.pgerror
    assert fresh() == 1


def test_retry_on_rule(proxy_factory, db, direct, fresh):
    p = retry_proxy(proxy_factory, {"retry_on": "P0001:flaky upstream"})
    assert autocommit_shape(p, 1, st="P0001", msg="a flaky upstream hiccup") == [1]
    assert fresh() == 2
    with pytest.raises(psycopg2.Error) as exc:
        autocommit_shape(p, 3, st="P0001", msg="a real bug")
    assert exc.value.pgcode == "P0001"
    assert fresh() == 3
    assert r_values(direct) == [1]


def test_retry_off_passes_error(proxy_factory, db, direct, fresh):
    p = retry_proxy(proxy_factory, {"enabled": "off"})
    with pytest.raises(psycopg2.Error) as exc:
        one_string_shape(p, 1)
    assert exc.value.pgcode == "40001"
    assert fresh() == 1
    assert r_values(direct) == []


# --- real conflicts -----------------------------------------------------------

JOBS = 16
RUN_ROWS = 50
UPSERT = ("BEGIN; DELETE FROM results WHERE run_id = %d; "
          "INSERT INTO results SELECT run_id, k, v FROM results_tmp WHERE run_id = %d; "
          "COMMIT;")


def upsert_jobs(endpoint):
    cs = [u.connect(endpoint, DB, application_name="upsert%d" % j) for j in range(JOBS)]
    try:
        return u.run_together([u.statement(c, UPSERT % (j, j)) for j, c in enumerate(cs)])
    finally:
        u.close_all(cs)


def reset_results(direct):
    u.execute(direct, DB, "TRUNCATE results, results_tmp",
              "INSERT INTO results SELECT j, k, -1 FROM generate_series(0, %d) j, "
              "generate_series(1, %d) k" % (JOBS - 1, RUN_ROWS),
              "INSERT INTO results_tmp SELECT j, k, j * 1000 + k FROM "
              "generate_series(0, %d) j, generate_series(1, %d) k" % (JOBS - 1, RUN_ROWS))


def test_concurrent_upserts_without_queue(proxy_factory, db, direct):
    """workloads.md item 5 with the target not queued: the conflicts happen
    (shown straight against the server) and retry alone hides them.
    max_attempts is 20: sixteen jobs colliding on one table can need many."""
    reset_results(direct)
    plain = upsert_jobs(direct)
    assert any(o.pgcode == "40001" for o in plain), plain
    assert all(o.pgcode in (None, "40001") for o in plain), plain

    p = retry_proxy(proxy_factory, {"max_attempts": 20, "base_delay_ms": 20,
                                    "max_delay_ms": 500})
    reset_results(direct)
    outcomes = upsert_jobs(p)
    assert [o.error for o in outcomes] == [None] * JOBS, outcomes
    rows = u.execute(direct, DB, "SELECT run_id, k, v FROM results ORDER BY 1, 2")
    assert rows == [(j, k, j * 1000 + k) for j in range(JOBS)
                    for k in range(1, RUN_ROWS + 1)]
    assert u.events(p, "retry_attempt")
    assert not u.events(p, "retry_gave_up")


# --- replays that must not happen or must not pass ---------------------------

def audit_txn(endpoint, direct, change_read_row):
    conn = u.connect(endpoint, DB, autocommit=False, application_name="auditor")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT v FROM acct WHERE id = 1")
            seen = cur.fetchone()[0]
            if change_read_row:
                u.execute(direct, DB, "UPDATE acct SET v = v + 100 WHERE id = 1")
            cur.execute("INSERT INTO audit VALUES (%s)", (seen,))
        conn.commit()
    finally:
        conn.close()


def test_replay_with_same_reads_commits(rproxy, direct, fresh):
    audit_txn(rproxy, direct, change_read_row=False)
    assert u.execute(direct, DB, "SELECT v FROM audit") == [(100,)]
    assert fresh() == 2


def test_replay_that_reads_differently_returns_original_error(rproxy, direct, fresh):
    mark = rproxy.log_mark()
    with pytest.raises(psycopg2.Error) as exc:
        audit_txn(rproxy, direct, change_read_row=True)
    assert exc.value.pgcode == "40001"
    assert u.execute(direct, DB, "SELECT count(*) FROM audit") == [(0,)]
    assert u.execute(direct, DB, "SELECT v FROM acct") == [(200,)]
    assert fresh() == 1
    gave_up = u.wait_events(rproxy, "retry_gave_up", 1, mark)
    assert "different" in gave_up[0]["reason"], gave_up


def test_ambiguous_commit_is_not_replayed(rproxy, direct, fresh, pg):
    mark = rproxy.log_mark()
    conn = u.connect(rproxy, DB, autocommit=False, application_name="ambiguous")
    admin = pg.admin(DB)
    try:
        u.statement(conn, "INSERT INTO amb VALUES (1)")()
        committing = u.Background(conn.commit)
        pid = None
        deadline = time.monotonic() + 5
        while pid is None and time.monotonic() < deadline:
            with admin.cursor() as cur:
                cur.execute("SELECT pid FROM pg_stat_activity WHERE application_name = "
                            "'ambiguous' AND state = 'active' AND query = 'COMMIT'")
                row = cur.fetchone()
            pid = row and row[0]
            time.sleep(0.02)
        assert pid, "COMMIT never showed in pg_stat_activity"
        with admin.cursor() as cur:
            cur.execute("SELECT pg_terminate_backend(%s)", (pid,))
        out = committing.join(10)
    finally:
        u.close_all([conn, admin])
    assert isinstance(out.error, psycopg2.OperationalError), out
    assert out.pgcode in (None, "08007", "57P01"), out
    u.wait_events(rproxy, "session_closed", 1, mark, application_name="ambiguous")
    time.sleep(0.5)
    assert u.execute(direct, DB, "SELECT count(*) FROM amb")[0][0] <= 1
    assert not u.events(rproxy, "retry_attempt", mark, application_name="ambiguous")


def test_redshift_implicit_commit_is_not_replayed(proxy_factory, rproxy, db, direct,
                                                  fresh):
    sql = ("BEGIN; TRUNCATE r; INSERT INTO r VALUES (7); SELECT %s; COMMIT;"
           % fail_sql(1))
    conn = u.connect(rproxy, DB)
    try:
        u.statement(conn, sql)()  # PostgreSQL dialect: TRUNCATE is transactional
    finally:
        conn.close()
    assert fresh() == 2

    u.execute(direct, DB, "ALTER SEQUENCE fail_calls RESTART", "TRUNCATE r")
    p = retry_proxy(proxy_factory, dialect="redshift")
    conn = u.connect(p, DB)
    try:
        with pytest.raises(psycopg2.Error) as exc:
            u.statement(conn, sql)()
        assert exc.value.pgcode == "40001"
        assert fresh() == 1
        u.statement(conn, "ROLLBACK")()  # the string's COMMIT never ran
        # The same across round trips: TRUNCATE first, the failure later.
        conn.autocommit = False
        u.statement(conn, "TRUNCATE r")()
        u.statement(conn, "INSERT INTO r VALUES (8)")()
        with pytest.raises(psycopg2.Error) as exc:
            u.statement(conn, "SELECT %s" % fail_sql(2))()
        assert exc.value.pgcode == "40001"
        assert fresh() == 2
        conn.rollback()
    finally:
        conn.close()
    assert not u.events(p, "retry_attempt")


def test_budget_stops_a_retry_storm(proxy_factory, db, fresh):
    p = retry_proxy(proxy_factory, {"budget_ratio": 0, "budget_floor": 0.1,
                                    "max_attempts": 2, "base_delay_ms": 1,
                                    "max_delay_ms": 1})
    conn = u.connect(p, DB, application_name="storm")
    per_txn = []
    try:
        for _ in range(25):
            before = fresh()
            with pytest.raises(psycopg2.Error) as exc:
                u.statement(conn, "SELECT %s" % fail_sql(10 ** 6, msg="storm"))()
            assert exc.value.pgcode == "40001"
            per_txn.append(fresh() - before)
    finally:
        conn.close()
    retried = per_txn.count(2)
    assert per_txn == [2] * retried + [1] * (len(per_txn) - retried), per_txn
    assert 1 <= retried <= 15 and per_txn[-1] == 1, per_txn
    assert u.events(p, "retry_budget_spent")


def test_large_result_streams_and_is_not_retried(proxy_factory, db, fresh):
    p = retry_proxy(proxy_factory, {"buffer_size": "64kB"})
    big = ("SELECT repeat('x', 1000) FROM generate_series(1, %d) "
           "UNION ALL SELECT %s::text")
    conn = u.connect(p, DB, application_name="bigresult")
    try:
        rows = u.statement(conn, big % (20, fail_sql(1)))()
        assert len(rows) == 21 and rows[-1] == ("1",)
        assert fresh() == 2
        u.execute(p, DB, "ALTER SEQUENCE fail_calls RESTART")
        with pytest.raises(psycopg2.Error) as exc:
            u.statement(conn, big % (1000, fail_sql(1)))()
        assert exc.value.pgcode == "40001"
        assert fresh() == 1
    finally:
        conn.close()
