"""Relay tests: what psql, psycopg2 and libpq users see through pgsluice is
what they see straight from PostgreSQL.

Each test compares against the server itself where a difference could hide
(COPY bytes, query output) and otherwise checks the value a user would."""

import hashlib
import io
import os
import select
import subprocess
import threading
import time

import psycopg2
import psycopg2.errors
import pytest

import pgsluice_harness as h

PSQL = os.path.join(h.PGBIN, "psql")
COPY_ROWS = 100000


def psql(dsn, *args, check=True):
    proc = subprocess.run([PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-At", dsn]
                          + list(args), capture_output=True, text=True,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError("psql %s failed (%d): %s" % (
            args, proc.returncode, proc.stderr))
    return proc


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture(scope="module")
def copy_table(pg):
    """copy_src: 100k rows mixing NULLs, tabs, backslashes, non-ASCII text,
    numerics, timestamps and bytea, made straight on the server."""
    with pg.connect() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS copy_src, copy_dst")
        cur.execute("""
            CREATE TABLE copy_src AS
            SELECT i AS id,
                   md5(i::text) AS hash,
                   CASE WHEN i %% 7 = 0 THEN NULL ELSE i * 1.25 END AS amount,
                   E'tab\\there back\\\\slash ' || i || ' \u00fcn\u00efc\u00f8d\u00e9'
                       AS note,
                   timestamptz '2024-01-01 00:00+00' + i * interval '1 minute'
                       AS at,
                   decode(md5(i::text), 'hex') AS raw
            FROM generate_series(1, %s) AS i""", (COPY_ROWS,))
        cur.execute("CREATE TABLE copy_dst (LIKE copy_src)")
    conn.close()
    return "copy_src"


def test_psql_queries_match_direct(proxy, pg):
    sql = ("SELECT current_user, current_database(), 6 * 7;"
           "SELECT string_agg(md5(i::text), ',') FROM generate_series(1, 20000) i")
    through = psql(proxy.dsn(), "-c", sql).stdout
    direct = psql(pg.dsn(), "-c", sql).stdout
    assert through.splitlines()[0] == "scram_user|%s|42" % h.DATABASE
    assert through == direct


def test_psql_multi_statement_string(proxy):
    out = psql(proxy.dsn(), "-c",
               "CREATE TEMP TABLE m (x int); INSERT INTO m VALUES (1), (2), (39);"
               " SELECT sum(x) FROM m").stdout
    # psql 15 prints each statement's result: all three must come through.
    assert out.splitlines() == ["CREATE TABLE", "INSERT 0 3", "42"]


def test_multi_statement_error_midway_keeps_session(proxy):
    conn = proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("CREATE TEMP TABLE ms (x int)")
    with pytest.raises(psycopg2.errors.DivisionByZero):
        cur.execute("INSERT INTO ms VALUES (1); SELECT 1/0; "
                    "INSERT INTO ms VALUES (2)")
    # A Query message is one implicit transaction: nothing of it stays.
    cur.execute("SELECT count(*) FROM ms")
    assert cur.fetchone()[0] == 0
    conn.close()


def test_psql_copy_out_is_byte_identical(proxy, pg, copy_table, tmp_path):
    through = tmp_path / "through.copy"
    direct = tmp_path / "direct.copy"
    query = "\\copy (SELECT * FROM copy_src ORDER BY id) TO '%s'"
    psql(proxy.dsn(), "-c", query % through)
    psql(pg.dsn(), "-c", query % direct)
    assert os.path.getsize(through) > 5_000_000
    assert sha256_file(through) == sha256_file(direct)


def test_psql_copy_in_round_trips(proxy, pg, copy_table, tmp_path):
    source = tmp_path / "source.copy"
    back = tmp_path / "back.copy"
    psql(pg.dsn(), "-c",
         "\\copy (SELECT * FROM copy_src ORDER BY id) TO '%s'" % source)
    psql(pg.dsn(), "-c", "TRUNCATE copy_dst")
    out = psql(proxy.dsn(), "-c", "\\copy copy_dst FROM '%s'" % source).stdout
    assert out.strip() == "COPY %d" % COPY_ROWS
    psql(pg.dsn(), "-c",
         "\\copy (SELECT * FROM copy_dst ORDER BY id) TO '%s'" % back)
    assert sha256_file(back) == sha256_file(source)


def test_copy_expert_to_and_from(proxy, pg, copy_table):
    query = "COPY (SELECT * FROM copy_src ORDER BY id LIMIT 20000) TO STDOUT"
    through, direct = io.StringIO(), io.StringIO()
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.copy_expert(query, through)
        cur.execute("CREATE TEMP TABLE cin (LIKE copy_src)")
        through.seek(0)
        cur.copy_expert("COPY cin FROM STDIN", through)
        assert cur.rowcount == 20000
        cur.execute("SELECT md5(string_agg(c::text, '|' ORDER BY id)) "
                    "FROM cin c")
        loaded = cur.fetchone()[0]
        cur.execute("SELECT md5(string_agg(c::text, '|' ORDER BY id)) FROM "
                    "(SELECT * FROM copy_src ORDER BY id LIMIT 20000) c")
        assert loaded == cur.fetchone()[0]
    conn.close()
    with pg.connect() as conn, conn.cursor() as cur:
        cur.copy_expert(query, direct)
    conn.close()
    assert through.getvalue() == direct.getvalue()


def test_copy_from_bad_data_fails_and_session_survives(proxy):
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE cbad (x int)")
        with pytest.raises(psycopg2.errors.InvalidTextRepresentation):
            cur.copy_expert("COPY cbad FROM STDIN",
                            io.StringIO("1\n2\nnot-a-number\n4\n"))
        conn.rollback()
        cur.execute("SELECT 1")
        assert cur.fetchone()[0] == 1
    conn.close()


def test_libpq_pipeline_1000_queries(proxy, libpq_client):
    proc = subprocess.run([libpq_client, "pipeline", "1000", proxy.dsn()],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("pipeline ok queries=1000")


def test_libpq_prepared_statement(proxy, libpq_client):
    proc = subprocess.run([libpq_client, "prepared", "2000", proxy.dsn()],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "prepared ok executions=2000"


def test_libpq_cancel(proxy, libpq_client):
    proc = subprocess.run([libpq_client, "cancel", proxy.dsn()],
                          capture_output=True, text=True, timeout=40)
    fields = dict(kv.split("=") for kv in proc.stdout.split()[1:])
    assert fields.get("sqlstate") == "57014", proc.stdout + proc.stderr
    assert float(fields["elapsed_ms"]) < 2000
    assert proc.returncode == 0


def test_psycopg2_cancel_then_session_usable(proxy):
    conn = proxy.connect()
    timer = threading.Timer(0.5, conn.cancel)
    cur = conn.cursor()
    start = time.monotonic()
    timer.start()
    with pytest.raises(psycopg2.errors.QueryCanceled):
        cur.execute("SELECT pg_sleep(30)")
    assert time.monotonic() - start < 2.0
    conn.rollback()
    cur.execute("SELECT 'still here'")
    assert cur.fetchone()[0] == "still here"
    conn.close()


def test_notice_from_do_block(proxy):
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("DO $$ BEGIN RAISE NOTICE 'loaded % rows', 42; END $$")
    conn.close()
    assert any("loaded 42 rows" in n for n in conn.notices), conn.notices


def test_listen_notify_between_sessions(proxy):
    listener = proxy.connect()
    listener.autocommit = True
    notifier = proxy.connect()
    notifier.autocommit = True
    listener.cursor().execute("LISTEN etl_done")
    cur = notifier.cursor()
    cur.execute("SELECT pg_backend_pid()")
    notifier_pid = cur.fetchone()[0]
    cur.execute("NOTIFY etl_done, 'batch 7'")

    deadline = time.monotonic() + 5
    while not listener.notifies and time.monotonic() < deadline:
        select.select([listener], [], [], 0.5)
        listener.poll()
    assert listener.notifies, "no notification within 5 s"
    note = listener.notifies[0]
    assert (note.channel, note.payload, note.pid) == (
        "etl_done", "batch 7", notifier_pid)
    listener.close()
    notifier.close()


def test_application_name_reaches_server(proxy, admin):
    conn = proxy.connect(application_name="nightly-load-17")
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    pid = cur.fetchone()[0]
    with admin.cursor() as acur:
        acur.execute("SELECT application_name FROM pg_stat_activity "
                     "WHERE pid = %s", (pid,))
        assert acur.fetchone()[0] == "nightly-load-17"
    conn.close()
    # Operators find a job's sessions in the proxy log by the same name.
    proxy.expect_log(r"session_closed .*application_name=nightly-load-17\b")


def test_twenty_concurrent_sessions_are_isolated(proxy):
    sessions = 20
    barrier = threading.Barrier(sessions)
    results, errors = {}, []

    def worker(n):
        try:
            conn = proxy.connect()
            cur = conn.cursor()
            cur.execute("CREATE TEMP TABLE mine (owner int, v int)")
            cur.execute("SELECT pg_backend_pid()")
            pid = cur.fetchone()[0]
            barrier.wait(timeout=30)
            for i in range(20):
                cur.execute("INSERT INTO mine VALUES (%s, %s)", (n, i))
                conn.commit()
            cur.execute("SELECT array_agg(DISTINCT owner), count(*) FROM mine")
            results[n] = (pid,) + cur.fetchone()
            conn.close()
        except Exception as exc:  # reported below with the session number
            errors.append((n, repr(exc)))
            barrier.abort()

    threads = [threading.Thread(target=worker, args=(n,))
               for n in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert len({r[0] for r in results.values()}) == sessions
    for n, (_, owners, count) in results.items():
        assert (owners, count) == ([n], 20)


def test_large_values_both_directions(proxy):
    """A 10 MB parameter up and a 10 MB value down stay intact (both are
    under the default max_message_size)."""
    big = "".join(chr(97 + i % 26) for i in range(10 * 1024 * 1024))
    conn = proxy.connect()
    cur = conn.cursor()
    cur.execute("SELECT md5(%s), length(%s)", (big, big))
    assert cur.fetchone() == (hashlib.md5(big.encode()).hexdigest(), len(big))
    cur.execute("SELECT repeat('xyz', 4000000)")
    assert cur.fetchone()[0] == "xyz" * 4000000
    conn.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


@pytest.mark.proxy_only
def test_slow_reader_does_not_grow_proxy_memory(proxy):
    """A client that stops reading a 200 MB result makes the proxy stop
    reading the server (high_water), instead of buffering the result."""
    client = h.WireClient(proxy.host, proxy.port, timeout=30)
    client.login("scram_user")
    before = rss_kb(proxy.pid)
    client.send(h.message(b"Q", b"SELECT repeat('x', 2000) "
                                b"FROM generate_series(1, 100000)\0"))
    time.sleep(2.0)
    grown_mb = (rss_kb(proxy.pid) - before) / 1024
    rows = 0
    while True:
        kind, payload = client.read()
        if kind == b"D":
            rows += 1
        elif kind == b"Z":
            break
    client.close()
    assert rows == 100000
    assert grown_mb < 64, "proxy RSS grew %.0f MB while the client paused" % (
        grown_mb)
