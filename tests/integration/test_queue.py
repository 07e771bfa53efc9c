"""Per-table write queues, end to end: conflicting ETL jobs that fail
straight against PostgreSQL at SERIALIZABLE succeed through pgsluice with
retry off, because writers of one table take turns; readers never wait;
waits end in grant, cancel, timeout or a broken deadlock, never a hang.

Everything runs in a database of its own whose sessions default to
SERIALIZABLE. The proxy logs JSON at debug level, so immediate grants show
as slot_granted events the tests can count."""

import os
import re
import socket
import struct
import subprocess
import time

import psycopg2
import psycopg2.errors
import pytest

import pgsluice_harness as h
import qr_util as u

pytestmark = pytest.mark.proxy_only

DB = "sluice_queue"
PGBENCH = os.path.join(h.PGBIN, "pgbench")

# Every target the module's proxy queues; t2 admits two writers at once.
TABLES = {
    "public.t": 1,
    "public.fact_sales": 1,
    "public.a": 1,
    "public.b": 1,
    "public.t2": 2,
    "public.w": 1,
    "public.ext": 1,
    "myschema.fact": 1,
}

JOBS = 16
JOB_ROWS = 30

SCHEMA = [
    "CREATE TABLE t (k int, v int)",
    "CREATE TABLE staging (job int, k int, v int)",
    # Job j loads keys 10j .. 10j+29: each overlaps its two neighbours.
    "INSERT INTO staging SELECT j, k, k * 7 FROM generate_series(0, %d) j, "
    "generate_series(j * 10, j * 10 + %d) k" % (JOBS - 1, JOB_ROWS - 1),
    "CREATE TABLE fact_sales (id int, amount numeric, job int)",
    "CREATE TABLE staging_sales (id int, amount numeric, job int)",
    "INSERT INTO staging_sales SELECT i, i * 1.5, 0 FROM generate_series(1, 500) i",
    "CREATE TABLE a (v int)",
    "CREATE TABLE b (v int)",
    "CREATE TABLE t2 (v int)",
    "CREATE TABLE w (id serial, who text)",
    "CREATE TABLE ext (v int)",
    "CREATE SCHEMA myschema",
    "CREATE TABLE myschema.fact (v int)",
    "CREATE TABLE public.fact (v int)",
]

JOB_SQL = ("BEGIN; DELETE FROM t WHERE k IN (SELECT k FROM staging WHERE job = %d); "
           "INSERT INTO t SELECT k, v FROM staging WHERE job = %d; COMMIT;")


@pytest.fixture(scope="module")
def db(pg):
    u.make_database(pg, DB)
    u.execute(h.DirectEndpoint(pg), DB, *SCHEMA)
    yield DB
    u.drop_database(pg, DB)


@pytest.fixture(scope="module")
def qproxy(module_proxy_factory, db):
    """One proxy for the module: every table above queued, retry off, so a
    conflict the queue fails to prevent reaches the client."""
    return module_proxy_factory(
        sections={"tables": TABLES, "retry": {"enabled": "off"}},
        log_level="debug", **u.JSON_LOG)


@pytest.fixture
def direct(pg):
    return h.DirectEndpoint(pg)


def conns(endpoint, n, app="qt", autocommit=True):
    return [u.connect(endpoint, DB, autocommit, application_name="%s%d" % (app, i))
            for i in range(n)]


def holder(endpoint, table, app="holder"):
    """A session inside an open transaction that has written table, so it
    holds the table's slot until it commits or goes away."""
    conn = u.connect(endpoint, DB, autocommit=False, application_name=app)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO %s DEFAULT VALUES" % table
                    if table == "w" else "INSERT INTO %s VALUES (-1)" % table)
    return conn


def reset_t(direct):
    u.execute(direct, DB, "TRUNCATE t",
              "INSERT INTO t SELECT k, -1 FROM generate_series(0, 200) k")


def expected_t():
    covered = set()
    for j in range(JOBS):
        covered.update(range(j * 10, j * 10 + JOB_ROWS))
    return sorted((k, k * 7 if k in covered else -1) for k in range(201))


def run_jobs(endpoint):
    cs = conns(endpoint, JOBS, "job")
    try:
        return u.run_together([u.statement(c, JOB_SQL % (j, j))
                               for j, c in enumerate(cs)])
    finally:
        u.close_all(cs)


# --- conflicts the queue prevents ------------------------------------------

def test_conflict_is_real_without_proxy(direct, db):
    reset_t(direct)
    outcomes = run_jobs(direct)
    failed = [o for o in outcomes if o.pgcode == "40001"]
    others = [o for o in outcomes if o.error and o.pgcode != "40001"]
    assert not others, others
    assert len(failed) > JOBS // 4, outcomes


def test_conflicting_jobs_all_succeed_through_queue(qproxy, direct):
    reset_t(direct)
    mark = qproxy.log_mark()
    outcomes = run_jobs(qproxy)
    assert [o.error for o in outcomes] == [None] * JOBS, outcomes
    rows = u.execute(direct, DB, "SELECT k, v FROM t ORDER BY k, v")
    assert rows == expected_t()
    # Each job took the slot once; none ran beside another.
    granted = u.events(qproxy, "slot_granted", mark, table="public.t")
    assert len(granted) == JOBS
    assert not u.events(qproxy, "retry_attempt", mark)


def test_runbook_job_shape(qproxy, direct):
    """workloads.md item 7: psycopg2 without autocommit sends the whole
    transaction as one execute; no lock or retry code around it."""
    u.execute(direct, DB, "TRUNCATE fact_sales")
    mark = qproxy.log_mark()

    def job(i):
        def work():
            conn = u.connect(qproxy, DB, autocommit=False,
                             application_name="runbook%d" % i)
            try:
                with conn.cursor() as cur:
                    cur.execute("BEGIN; INSERT INTO public.fact_sales "
                                "SELECT * FROM public.staging_sales; COMMIT;")
                conn.commit()
            finally:
                conn.close()
        return work

    outcomes = u.run_together([job(i) for i in range(JOBS)])
    assert [o.error for o in outcomes] == [None] * JOBS, outcomes
    rows = u.execute(direct, DB, "SELECT count(*), count(DISTINCT id), sum(amount) "
                                 "FROM fact_sales")
    assert rows == [(JOBS * 500, 500, JOBS * sum(i * 1.5 for i in range(1, 501)))]
    assert len(u.events(qproxy, "slot_granted", mark, table="public.fact_sales")) == JOBS


# --- concurrency between tables and limits ---------------------------------

def test_writers_of_different_tables_run_together(qproxy):
    cs = conns(qproxy, 2, "ab")
    try:
        outcomes = u.run_together([
            u.statement(cs[0], "BEGIN; INSERT INTO a VALUES (1); "
                               "SELECT pg_sleep(1); COMMIT;"),
            u.statement(cs[1], "BEGIN; INSERT INTO b VALUES (1); "
                               "SELECT pg_sleep(1); COMMIT;"),
        ])
    finally:
        u.close_all(cs)
    assert [o.error for o in outcomes] == [None, None], outcomes
    assert max(o.elapsed for o in outcomes) < 1.7, outcomes


def test_limit_two_admits_exactly_two(qproxy):
    mark = qproxy.log_mark()
    cs = conns(qproxy, 3, "lim")
    sql = "BEGIN; INSERT INTO t2 VALUES (1); SELECT pg_sleep(1); COMMIT;"
    try:
        outcomes = u.run_together([u.statement(c, sql) for c in cs])
    finally:
        u.close_all(cs)
    assert [o.error for o in outcomes] == [None] * 3, outcomes
    times = sorted(o.elapsed for o in outcomes)
    assert times[1] < 1.7 and times[2] > 1.9, times
    queued = u.events(qproxy, "slot_queued", mark, table="public.t2")
    assert len(queued) == 1, queued
    late = u.events(qproxy, "slot_granted", mark, table="public.t2",
                    session=queued[0]["session"])
    assert len(late) == 1 and late[0]["wait_ms"] >= 800, late


# --- order ------------------------------------------------------------------

def test_waiters_granted_first_in_first_out(qproxy, direct):
    u.execute(direct, DB, "TRUNCATE w RESTART IDENTITY")
    mark = qproxy.log_mark()
    hold = holder(qproxy, "w")
    cs = conns(qproxy, 5, "fifo")
    waiters = []
    try:
        for i, c in enumerate(cs):
            waiters.append(u.Background(u.statement(
                c, "INSERT INTO w (who) VALUES (%s)", ("w%d" % i,))))
            u.wait_events(qproxy, "slot_queued", i + 1, mark, table="public.w")
        queued = [e["session"] for e in
                  u.events(qproxy, "slot_queued", mark, table="public.w")]
        hold.commit()
        outs = [wt.join() for wt in waiters]
    finally:
        u.close_all(cs + [hold])
    assert [o.error for o in outs] == [None] * 5, outs
    who = [r[0] for r in u.execute(direct, DB, "SELECT who FROM w ORDER BY id")]
    assert who == [None] + ["w%d" % i for i in range(5)]
    granted = [e["session"] for e in
               u.events(qproxy, "slot_granted", mark, table="public.w")
               if e["wait_ms"] > 0]
    assert granted == queued


def test_reader_of_held_table_does_not_wait(qproxy):
    mark = qproxy.log_mark()
    hold = holder(qproxy, "w")
    reader = u.connect(qproxy, DB, application_name="reader")
    try:
        start = time.monotonic()
        with reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM w")
            cur.fetchall()
            cur.execute("SELECT * FROM w WHERE id < 0")
        assert time.monotonic() - start < 0.5
    finally:
        u.close_all([reader, hold])
    queued = u.events(qproxy, "slot_queued", mark)
    assert not queued, queued


# --- sessions that go away --------------------------------------------------

def raw_session(proxy, app):
    """A protocol client whose socket the test can reset at will."""
    wc = h.WireClient(proxy.host, proxy.port)
    wc.login("scram_user", database=DB, application_name=app)
    return wc


def reset(wc):
    """Closes the socket with RST: no Terminate, no FIN handshake."""
    if wc.sock.fileno() < 0:
        return
    wc.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    wc.sock.close()


def test_killed_holder_frees_its_slot(qproxy, direct):
    mark = qproxy.log_mark()
    hold = raw_session(qproxy, "doomed_holder")
    hold.query("BEGIN")
    assert hold.query("INSERT INTO w (who) VALUES ('doomed')")[-1] == (b"Z", b"T")
    waiter = u.connect(qproxy, DB, application_name="after_holder")
    try:
        hold_sid = u.wait_events(qproxy, "slot_granted", 1, mark,
                                 table="public.w")[-1]["session"]
        wt = u.Background(u.statement(waiter, "INSERT INTO w (who) VALUES ('next')"))
        u.wait_events(qproxy, "slot_queued", 1, mark, table="public.w")
        killed = time.monotonic()
        reset(hold)
        out = wt.join(10)
        assert out.error is None, out
        assert time.monotonic() - killed < 1.0
        u.wait_events(qproxy, "slot_released", 1, mark, session=hold_sid)
        # No slot leaked: another writer is admitted at once.
        start = time.monotonic()
        u.statement(waiter, "INSERT INTO w (who) VALUES ('again')")()
        assert time.monotonic() - start < 0.5
    finally:
        reset(hold)
        waiter.close()
    assert u.execute(direct, DB, "SELECT count(*) FROM w WHERE who = 'doomed'") == [(0,)]


def test_killed_waiter_leaves_the_line(qproxy, direct):
    mark = qproxy.log_mark()
    hold = holder(qproxy, "w")
    doomed = raw_session(qproxy, "doomed_waiter")
    nxt = u.connect(qproxy, DB, application_name="behind_doomed")
    try:
        doomed.send(h.message(b"Q", b"INSERT INTO w (who) VALUES ('doomed')\0"))
        first = u.wait_events(qproxy, "slot_queued", 1, mark, table="public.w")
        wt = u.Background(u.statement(nxt, "INSERT INTO w (who) VALUES ('next')"))
        u.wait_events(qproxy, "slot_queued", 2, mark, table="public.w")
        reset(doomed)
        u.wait_events(qproxy, "session_closed", 1, mark, session=first[0]["session"])
        released = time.monotonic()
        hold.commit()
        out = wt.join(10)
        assert out.error is None, out
        assert time.monotonic() - released < 1.0
        u.wait_events(qproxy, "slot_released", 1, mark,
                      session=u.events(qproxy, "slot_granted", mark,
                                       table="public.w")[0]["session"])
        start = time.monotonic()
        u.statement(nxt, "INSERT INTO w (who) VALUES ('again')")()
        assert time.monotonic() - start < 0.5
    finally:
        reset(doomed)
        u.close_all([nxt, hold])
    assert u.execute(direct, DB, "SELECT count(*) FROM w WHERE who = 'doomed'") == [(0,)]


# --- waits that end without a grant ------------------------------------------

def test_cancel_while_waiting(qproxy):
    mark = qproxy.log_mark()
    hold = holder(qproxy, "w")
    waiter = u.connect(qproxy, DB, application_name="canceller")
    try:
        wt = u.Background(u.statement(waiter, "INSERT INTO w (who) VALUES ('c')"))
        u.wait_events(qproxy, "slot_queued", 1, mark, table="public.w")
        waiter.cancel()
        out = wt.join(5)
        assert out.pgcode == "57014", out
        assert u.statement(waiter, "SELECT 1")() == [(1,)]
        u.wait_events(qproxy, "slot_wait_cancelled", 1, mark)
        hold.commit()
        start = time.monotonic()
        u.statement(waiter, "INSERT INTO w (who) VALUES ('after cancel')")()
        assert time.monotonic() - start < 0.5
    finally:
        u.close_all([waiter, hold])


def test_wait_timeout_names_the_table(proxy_factory, db):
    p = proxy_factory(sections={"tables": {"public.w": 1}, "queue": {"wait_timeout": 1},
                                "retry": {"enabled": "off"}}, **u.JSON_LOG)
    hold = holder(p, "w")
    waiter = u.connect(p, DB, application_name="impatient")
    try:
        start = time.monotonic()
        with pytest.raises(psycopg2.Error) as exc:
            u.statement(waiter, "INSERT INTO w (who) VALUES ('late')")()
        waited = time.monotonic() - start
        assert exc.value.pgcode == "55P03", exc.value
        assert "public.w" in exc.value.pgerror
        assert 0.9 < waited < 3.0, waited
        assert u.statement(waiter, "SELECT 1")() == [(1,)]
    finally:
        u.close_all([waiter, hold])


def test_hold_timeout_disconnects_idle_holder(proxy_factory, db, direct):
    p = proxy_factory(sections={"tables": {"public.w": 1}, "queue": {"hold_timeout": 1},
                                "retry": {"enabled": "off"}}, **u.JSON_LOG)
    u.execute(direct, DB, "TRUNCATE w")
    hold = raw_session(p, "idle_holder")
    waiter = u.connect(p, DB, application_name="patient")
    try:
        hold.query("BEGIN")
        assert hold.query("INSERT INTO w (who) VALUES ('idle')")[-1] == (b"Z", b"T")
        wt = u.Background(u.statement(waiter, "INSERT INTO w (who) VALUES ('patient')"))
        # The holder, idle, gets an error and the close, unasked.
        err = hold.read_error_or_close()
        assert err and err["C"] == "25P03" and "public.w" in err["M"], err
        assert hold.expect_closed()
        out = wt.join(5)
        assert out.error is None, out
        assert out.elapsed < 3.5
    finally:
        reset(hold)
        waiter.close()
    assert u.execute(direct, DB, "SELECT who FROM w") == [("patient",)]


def test_deadlock_between_explicit_transactions(qproxy, direct):
    one = u.connect(qproxy, DB, autocommit=False, application_name="dl1")
    two = u.connect(qproxy, DB, autocommit=False, application_name="dl2")
    mark = qproxy.log_mark()
    try:
        u.statement(one, "INSERT INTO a VALUES (101)")()
        u.statement(two, "INSERT INTO b VALUES (202)")()
        first = u.Background(u.statement(one, "INSERT INTO b VALUES (101)"))
        u.wait_events(qproxy, "slot_queued", 1, mark, table="public.b")
        second = u.Background(u.statement(two, "INSERT INTO a VALUES (202)"))
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not (first.done() or second.done()):
            time.sleep(0.01)
        victims = [(w, c) for w, c in ((first, one), (second, two)) if w.done()]
        assert len(victims) == 1, "no session was refused within a second"
        victim, vconn = victims[0]
        assert victim.out.pgcode == "40P01", victim.out
        vconn.rollback()
        survivor, sconn = (second, two) if victim is first else (first, one)
        out = survivor.join(5)
        assert out.error is None, out
        sconn.commit()
    finally:
        u.close_all([one, two])
    win = 101 if victim is second else 202
    assert u.execute(direct, DB, "SELECT count(*) FROM a WHERE v IN (101, 202)") == [(1,)]
    assert u.execute(direct, DB, "SELECT v FROM b WHERE v IN (101, 202)") == [(win,)]


# --- extended protocol, search_path, dialects --------------------------------

def pgbench(endpoint, script_path, *args):
    env = dict(os.environ, PGPASSWORD=h.PASSWORDS["scram_user"])
    cmd = [PGBENCH, "-n", "-h", endpoint.host, "-p", str(endpoint.port),
           "-U", "scram_user", "-f", script_path] + list(args) + [DB]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def pgbench_seconds(out, transactions):
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    assert tps, out
    return transactions / float(tps.group(1))


@pytest.mark.parametrize("mode", ["extended", "prepared"])
def test_extended_protocol_writes_take_turns(qproxy, direct, workdir, mode):
    script = os.path.join(workdir, "ext_sleep.sql")
    with open(script, "w") as f:
        f.write("BEGIN;\nINSERT INTO ext VALUES (:client_id);\n"
                "SELECT pg_sleep(0.2);\nEND;\n")
    mark = qproxy.log_mark()
    through = pgbench_seconds(pgbench(qproxy, script, "-M", mode, "-c", "2",
                                      "-j", "2", "-t", "3"), 6)
    alone = pgbench_seconds(pgbench(direct, script, "-M", mode, "-c", "2",
                                    "-j", "2", "-t", "3"), 6)
    # Six transactions of 0.2 s: one at a time through the queue.
    assert through >= 1.15, (through, alone)
    assert alone < 1.0, (through, alone)
    assert len(u.events(qproxy, "slot_granted", mark, table="public.ext")) == 6
    assert u.events(qproxy, "slot_queued", mark, table="public.ext")


def test_prepared_statement_queued_every_execution(qproxy, workdir):
    script = os.path.join(workdir, "ext_insert.sql")
    with open(script, "w") as f:
        f.write("INSERT INTO ext VALUES (:client_id);\n")
    mark = qproxy.log_mark()
    pgbench(qproxy, script, "-M", "prepared", "-c", "1", "-t", "20")
    assert len(u.events(qproxy, "slot_granted", mark, table="public.ext")) == 20

    mark = qproxy.log_mark()
    conn = u.connect(qproxy, DB, application_name="sqlprep")
    try:
        u.statement(conn, "PREPARE ins (int) AS INSERT INTO ext VALUES ($1)")()
        for i in range(10):
            u.statement(conn, "EXECUTE ins(%s)", (i,))()
    finally:
        conn.close()
    assert len(u.events(qproxy, "slot_granted", mark, table="public.ext")) == 10


def test_search_path_resolves_unqualified_target(qproxy, direct):
    mark = qproxy.log_mark()
    hold = holder(qproxy, "myschema.fact")
    pathed = u.connect(qproxy, DB, application_name="pathed")
    plain = u.connect(qproxy, DB, application_name="plain")
    try:
        u.statement(pathed, "SET search_path = myschema, public")()
        wt = u.Background(u.statement(pathed, "INSERT INTO fact VALUES (1)"))
        queued = u.wait_events(qproxy, "slot_queued", 1, mark)
        assert queued[0]["table"] == "myschema.fact"
        assert queued[0]["application_name"] == "pathed"
        # The same text without the search_path writes public.fact: no wait.
        start = time.monotonic()
        u.statement(plain, "INSERT INTO fact VALUES (2)")()
        assert time.monotonic() - start < 0.5
        assert not wt.done()
        hold.commit()
        assert wt.join(5).error is None
    finally:
        u.close_all([hold, pathed, plain])
    assert u.execute(direct, DB, "SELECT v FROM myschema.fact ORDER BY v") == [(-1,), (1,)]
    assert u.execute(direct, DB, "SELECT v FROM public.fact") == [(2,)]


REDSHIFT_COPY = ("COPY t FROM 's3://bucket/x' IAM_ROLE 'arn:aws:iam::1:role/r' "
                 "FORMAT AS PARQUET;")


@pytest.mark.parametrize("dialect", ["auto", "redshift"])
def test_redshift_copy_is_queued(module_proxy_factory, qproxy, db, dialect):
    p = qproxy if dialect == "auto" else module_proxy_factory(
        sections={"tables": TABLES, "retry": {"enabled": "off"}},
        log_level="debug", dialect=dialect, **u.JSON_LOG)
    mark = p.log_mark()
    conn = u.connect(p, DB, application_name="rscopy")
    try:
        with pytest.raises(psycopg2.Error) as exc:
            u.statement(conn, REDSHIFT_COPY)()
        assert exc.value.pgcode == "42601", exc.value
    finally:
        conn.close()
    granted = u.events(p, "slot_granted", mark, table="public.t",
                       application_name="rscopy")
    assert len(granted) == 1, p.tail(20)
    assert u.events(p, "slot_released", mark, table="public.t",
                    application_name="rscopy")
