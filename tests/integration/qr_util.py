"""Helpers shared by the queue and retry integration tests: a database of
their own at SERIALIZABLE, JSON proxy logs read as events, and threads that
start their statements together.

The tests decide what a pass means; nothing here talks to the proxy beyond
opening connections and reading its log file."""

import json
import threading
import time

import psycopg2

import pgsluice_harness as h


def make_database(pg, name, isolation="serializable"):
    """(Re)creates database name owned by scram_user whose sessions start at
    the given default_transaction_isolation. The shared sluice_test database
    stays as it is, so other test modules are unaffected."""
    conn = pg.admin()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
        cur.execute("CREATE DATABASE %s OWNER scram_user" % name)
        cur.execute("ALTER DATABASE %s SET default_transaction_isolation = %%s"
                    % name, (isolation,))
    conn.close()
    return name


def drop_database(pg, name):
    conn = pg.admin()
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name)
    conn.close()


def connect(endpoint, dbname, autocommit=True, **kw):
    conn = psycopg2.connect(endpoint.dsn(dbname=dbname, **kw))
    conn.autocommit = autocommit
    return conn


def execute(endpoint, dbname, *statements):
    """Runs statements one by one in autocommit; returns the last result's
    rows (or None). A lock wait fails after 10 s: a session a failed test
    left open must not hang the next test's cleanup."""
    conn = connect(endpoint, dbname)
    rows = None
    try:
        with conn.cursor() as cur:
            cur.execute("SET lock_timeout = '10s'")
            for sql in statements:
                cur.execute(sql)
                rows = cur.fetchall() if cur.description else None
    finally:
        conn.close()
    return rows


# --- the proxy's JSON log ----------------------------------------------------

JSON_LOG = {"log_format": "json"}


def events(proxy, name=None, mark=0, **fields):
    """The JSON log lines after mark, as dicts, optionally only event name
    and only those whose fields equal the given values."""
    out = []
    for line in proxy.log_since(mark).splitlines():
        if not line.startswith("{"):
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if name is not None and ev.get("event") != name:
            continue
        if all(ev.get(k) == v for k, v in fields.items()):
            out.append(ev)
    return out


def wait_events(proxy, name, count, mark=0, timeout=10.0, **fields):
    """Waits until at least count matching events appear after mark; returns
    them. Fails the test with the log tail when they do not."""
    deadline = time.monotonic() + timeout
    while True:
        found = events(proxy, name, mark, **fields)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("%d %s event(s) %r expected, %d seen:\n%s" % (
                count, name, fields, len(found), proxy.tail(40)))
        time.sleep(0.02)


def session_of(conn, proxy, mark):
    """The proxy's session id of conn, found from the last session_opened
    event with conn's application_name after mark."""
    app = conn.get_dsn_parameters().get("application_name")
    found = [e for e in events(proxy, "session_opened", mark)
             if e.get("application_name") == app]
    assert found, "no session_opened for %s" % app
    return found[-1]["session"]


# --- concurrent work ---------------------------------------------------------

class Outcome:
    """What one thread's work ended with: a value or an exception, and when
    (seconds after the common start)."""

    def __init__(self):
        self.value = None
        self.error = None
        self.elapsed = None

    @property
    def pgcode(self):
        return getattr(self.error, "pgcode", None)

    def __repr__(self):
        return "Outcome(value=%r, error=%r, pgcode=%r, elapsed=%r)" % (
            self.value, self.error, self.pgcode, self.elapsed)


def run_together(works, timeout=120.0):
    """Runs each callable in its own thread, all released at once by a
    barrier; returns their Outcomes in order."""
    outcomes = [Outcome() for _ in works]
    barrier = threading.Barrier(len(works) + 1)
    start = [0.0]

    def body(work, out):
        barrier.wait()
        try:
            out.value = work()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            out.error = e
        out.elapsed = time.monotonic() - start[0]

    threads = [threading.Thread(target=body, args=(w, o), daemon=True)
               for w, o in zip(works, outcomes)]
    for t in threads:
        t.start()
    start[0] = time.monotonic()
    barrier.wait()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a worker still runs after %.0f s" % timeout
    return outcomes


class Background:
    """One callable in a thread, started now; join() returns its Outcome."""

    def __init__(self, work):
        self.out = Outcome()
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self._body, args=(work,),
                                       daemon=True)
        self.thread.start()

    def _body(self, work):
        try:
            self.out.value = work()
        except Exception as e:  # noqa: BLE001 - the test inspects it
            self.out.error = e
        self.out.elapsed = time.monotonic() - self.started

    def done(self):
        return not self.thread.is_alive()

    def join(self, timeout=30.0):
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "worker still runs after %.0f s" % (
            timeout)
        return self.out


def statement(conn, sql, args=None):
    """A callable that runs sql on conn and returns its rows (or None)."""
    def work():
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else None
    return work


def close_all(conns):
    for c in conns:
        try:
            c.close()
        except psycopg2.Error:
            pass

