"""The operator's side of pgsluice: the admin console reached with psql
(SCRAM login against [admin], every SHOW during a live queue, PAUSE/RESUME,
RETRY, RELOAD, SHUTDOWN), `pgsluice passwd`, SIGHUP reloads, and the
Prometheus endpoint parsed as Prometheus would.

Every test runs its own proxy (the console and the metrics need an [admin]
section and a metrics port), so the module is proxy only."""

import base64
import csv
import hashlib
import hmac
import io
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import psycopg2
import psycopg2.errors
import pytest

import pgsluice_harness as h

pytestmark = pytest.mark.proxy_only

PSQL = os.path.join(h.PGBIN, "psql")
OPS = "ops"
OPS_PASSWORD = "console-secret"
TABLES = {"public.adm_q": 1, "public.adm_p": 1, "public.adm_h": 1,
          "public.adm_r": 1}


# --- helpers -----------------------------------------------------------------

def make_verifier(binary, user, password):
    """Runs `pgsluice passwd user` and returns (key, verifier) of its line."""
    proc = subprocess.run([binary, "passwd", user], input=password + "\n",
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    key, _, verifier = proc.stdout.strip().partition(" = ")
    return key, verifier


def console_dsn(proxy, user=OPS):
    return h.conninfo(host=proxy.host, port=proxy.port, user=user,
                      dbname="pgsluice", connect_timeout=10)


def run_psql(proxy, sql, user=OPS, password=OPS_PASSWORD):
    env = dict(os.environ, PGPASSWORD=password)
    return subprocess.run([PSQL, "-X", "--csv", "-v", "ON_ERROR_STOP=1",
                           console_dsn(proxy, user), "-c", sql],
                          capture_output=True, text=True, timeout=60, env=env)


def console(proxy, sql):
    """Runs one console command through psql; returns its rows as dicts."""
    proc = run_psql(proxy, sql)
    assert proc.returncode == 0, "psql -c %r failed: %s" % (sql, proc.stderr)
    return list(csv.DictReader(io.StringIO(proc.stdout)))


def rows_for(rows, key, value):
    return [r for r in rows if r[key] == value]


def wait_until(fn, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def queue_row(proxy, table):
    rows = rows_for(console(proxy, "SHOW QUEUES"), "table", table)
    return rows[0] if rows else None


def scrape(proxy):
    """Fetches /metrics; returns (content type, {(name, labels): value})
    after checking every line against the text format 0.0.4."""
    url = "http://127.0.0.1:%d/metrics" % proxy.metrics_port
    with urllib.request.urlopen(url, timeout=10) as resp:
        ctype = resp.headers.get("Content-Type")
        text = resp.read().decode("utf-8")
    return ctype, parse_metrics(text)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')


def parse_labels(text):
    labels, pos = [], 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad label set %r" % text
        value = re.sub(r'\\(.)', lambda e: "\n" if e.group(1) == "n"
                       else e.group(1), m.group(2))
        labels.append((m.group(1), value))
        pos = m.end()
    return tuple(sorted(labels))


def parse_metrics(text):
    assert text.endswith("\n")
    samples, typed = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if parts[1] == "TYPE":
                assert parts[2] not in typed, "two TYPE lines for " + parts[2]
                typed[parts[2]] = parts[3]
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name = m.group(1)
        base = re.sub(r'_(bucket|sum|count)$', "", name)
        assert name in typed or base in typed, "sample before its TYPE: " + name
        key = (name, parse_labels(m.group(3) or ""))
        assert key not in samples, "duplicate sample %r" % (key,)
        samples[key] = float(m.group(4))
    return samples


def metric(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def start_proxy(factory, binary, tables=None, **settings):
    """A proxy with the ops console user, the given [tables] and a metrics
    port; the port is kept on the returned proxy as metrics_port."""
    key, verifier = make_verifier(binary, OPS, OPS_PASSWORD)
    port = h.free_port()
    settings.setdefault("metrics_port", port)
    proxy = factory({"tables": tables or TABLES, "admin": {key: verifier}},
                    **settings)
    proxy.metrics_port = port
    return proxy


def rewrite_ini(proxy, section, key, value):
    proxy.sections.setdefault(section, {})[key] = value
    with open(proxy.ini, "w") as f:
        f.write(h.ini_text(proxy.sections))


class Writer(threading.Thread):
    """Runs one autocommit statement through the proxy in a thread."""

    def __init__(self, proxy, sql, name):
        super().__init__(daemon=True)
        self.conn = proxy.connect(application_name=name)
        self.conn.autocommit = True
        self.sql = sql
        self.error = None

    def run(self):
        try:
            with self.conn.cursor() as cur:
                cur.execute(self.sql)
        except Exception as e:  # reported by the test through .error
            self.error = e

    def finish(self, timeout=15):
        self.join(timeout)
        alive = self.is_alive()
        self.conn.close()
        assert not alive, "writer %s still blocked" % self.sql
        assert self.error is None, self.error


@pytest.fixture
def tables(pg):
    conn = pg.connect()
    conn.autocommit = True
    with conn.cursor() as cur:
        for name in TABLES:
            cur.execute("DROP TABLE IF EXISTS %s" % name)
            cur.execute("CREATE TABLE %s (v int)" % name)
    yield conn
    conn.close()


# --- pgsluice passwd ---------------------------------------------------------

def test_passwd_prints_a_verifier_for_the_password(proxy_binary):
    key, verifier = make_verifier(proxy_binary, "ops", "pencil")
    assert key == "ops"
    m = re.fullmatch(r"SCRAM-SHA-256\$4096:([A-Za-z0-9+/=]+)\$"
                     r"([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", verifier)
    assert m, verifier
    salt, stored, server = (base64.b64decode(g) for g in m.groups())
    salted = hashlib.pbkdf2_hmac("sha256", b"pencil", salt, 4096)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    assert len(salt) == 16
    assert stored == hashlib.sha256(client_key).digest()
    assert server == hmac.digest(salted, b"Server Key", "sha256")
    assert make_verifier(proxy_binary, "ops", "pencil")[1] != verifier

    empty = subprocess.run([proxy_binary, "passwd", "ops"], input="",
                           capture_output=True, text=True, timeout=30)
    assert empty.returncode != 0 and "password" in empty.stderr
    bad_user = subprocess.run([proxy_binary, "passwd", "a=b"], input="x\n",
                              capture_output=True, text=True, timeout=30)
    assert bad_user.returncode != 0 and bad_user.stdout == ""


# --- the console during a live queue -------------------------------------------

def check_locks(proxy):
    locks = rows_for(console(proxy, "SHOW LOCKS"), "table", "public.adm_q")
    assert [r["state"] for r in locks] == ["holding", "waiting", "waiting"]
    assert [r["application_name"] for r in locks] == [
        "adm-holder", "adm-waiter-1", "adm-waiter-2"]
    assert [r["position"] for r in locks] == ["", "1", "2"]
    assert "INSERT INTO adm_q VALUES (1)" in locks[0]["statement"]
    assert all("VALUES (2)" in r["statement"] for r in locks[1:])
    assert all(r["user"] == "scram_user" and r["database"] == h.DATABASE
               for r in locks)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z",
                            r["since"]) for r in locks)
    assert int(locks[0]["duration_ms"]) >= int(locks[1]["duration_ms"]) >= \
        int(locks[2]["duration_ms"]) > 0
    return locks


def check_clients(proxy, locks):
    clients = {r["session"]: r for r in console(proxy, "SHOW CLIENTS")}
    holder = clients[locks[0]["session"]]
    assert holder["txn"] == "in transaction" and holder["state"] == "idle"
    assert holder["holds"] == "public.adm_q"
    assert holder["client_addr"] == locks[0]["client_addr"]
    for row in locks[1:]:
        assert clients[row["session"]]["state"] == "waiting"
        assert clients[row["session"]]["holds"] == ""
    consoles = [r for r in clients.values() if r["database"] == "pgsluice"]
    assert len(consoles) == 1 and consoles[0]["state"] == "console"
    assert int(holder["bytes_in"]) > 0 and int(holder["bytes_out"]) > 0


def check_metrics_live(proxy):
    ctype, samples = scrape(proxy)
    assert ctype.startswith("text/plain; version=0.0.4")
    assert metric(samples, "pgsluice_queue_waiting", table="public.adm_q") == 2
    assert metric(samples, "pgsluice_queue_holders", table="public.adm_q") == 1
    assert metric(samples, "pgsluice_queue_limit", table="public.adm_q") == 1
    assert metric(samples, "pgsluice_queue_paused", table="public.adm_q") == 0
    # Three clients and this console; psql's own session may still close.
    assert metric(samples, "pgsluice_sessions") >= 3
    assert metric(samples, "pgsluice_retry_enabled") == 1


def test_console_shows_a_live_queue(proxy_factory, proxy_binary, tables):
    proxy = start_proxy(proxy_factory, proxy_binary)
    holder = proxy.connect(application_name="adm-holder")
    waiters = []
    try:
        holder.cursor().execute("INSERT INTO adm_q VALUES (1)")
        for i in (1, 2):
            w = Writer(proxy, "INSERT INTO adm_q VALUES (2)", "adm-waiter-%d" % i)
            w.start()
            waiters.append(w)
            wait_until(lambda: (queue_row(proxy, "public.adm_q") or {}).get(
                "waiting") == str(i), what="waiter %d in the queue" % i)

        row = queue_row(proxy, "public.adm_q")
        assert row["limit"] == "1" and row["holders"] == "1"
        assert row["paused"] == "no" and int(row["longest_wait_ms"]) > 0
        locks = check_locks(proxy)
        check_clients(proxy, locks)
        check_metrics_live(proxy)
        config = {r["key"]: r for r in console(proxy, "SHOW CONFIG")}
        assert config["tables.public.adm_q"]["value"] == "1"
        assert config["tables.public.adm_q"]["reloadable"] == "yes"
        assert config["pgsluice.listen_port"]["reloadable"] == "no"
        assert config["admin.ops"]["value"] == "(SCRAM-SHA-256 verifier)"
        assert "SCRAM-SHA-256$" not in run_psql(proxy, "SHOW CONFIG").stdout
        time.sleep(0.3)
    finally:
        holder.commit()
        holder.close()
        for w in waiters:
            w.finish()

    row = queue_row(proxy, "public.adm_q")
    assert (row["holders"], row["waiting"]) == ("0", "0")
    stats = rows_for(console(proxy, "SHOW STATS"), "table", "public.adm_q")[0]
    assert stats["transactions"] == "3" and stats["waits"] == "2"
    assert int(stats["max_wait_ms"]) >= 300, stats
    assert stats["retries"] == "0" and stats["errors_passed"] == "0"
    errors = run_psql(proxy, "SHOW ERRORS")
    assert errors.returncode == 0
    assert errors.stdout.splitlines()[0] == (
        "time,session,tables,sqlstate,message,detail,cycle,attempt,outcome,"
        "statement")
    _, samples = scrape(proxy)
    assert metric(samples, "pgsluice_queue_waiting", table="public.adm_q") == 0
    assert metric(samples, "pgsluice_queue_grants_total",
                  table="public.adm_q") == 3
    assert metric(samples, "pgsluice_wait_seconds_count",
                  table="public.adm_q") == 3
    assert metric(samples, "pgsluice_wait_seconds_sum",
                  table="public.adm_q") >= 0.3
    assert metric(samples, "pgsluice_wait_seconds_bucket", table="public.adm_q",
                  le="+Inf") == 3
    assert metric(samples, "pgsluice_hold_seconds_count",
                  table="public.adm_q") == 3


# --- acting on queues ----------------------------------------------------------

def test_pause_holds_new_writers_and_resume_releases_them(
        proxy_factory, proxy_binary, tables):
    proxy = start_proxy(proxy_factory, proxy_binary)
    proc = run_psql(proxy, "pause PUBLIC.ADM_P;")
    assert proc.returncode == 0, proc.stderr
    assert "paused" in proc.stderr  # the NOTICE
    row = queue_row(proxy, "public.adm_p")
    assert row["paused"] == "yes"

    writer = Writer(proxy, "INSERT INTO adm_p VALUES (7)", "adm-paused")
    writer.start()
    try:
        wait_until(lambda: queue_row(proxy, "public.adm_p")["waiting"] == "1",
                   what="the writer to queue")
        time.sleep(0.5)
        assert writer.is_alive(), "a paused table admitted a writer"
        with tables.cursor() as cur:
            cur.execute("SELECT count(*) FROM adm_p")
            assert cur.fetchone()[0] == 0
        _, samples = scrape(proxy)
        assert metric(samples, "pgsluice_queue_paused", table="public.adm_p") == 1
        # Reads of the paused table never wait.
        with proxy.connect() as reader, reader.cursor() as cur:
            cur.execute("SELECT count(*) FROM adm_p")
            assert cur.fetchone()[0] == 0
        reader.close()
    finally:
        proc = run_psql(proxy, "RESUME adm_p")
        writer.finish()
    assert proc.returncode == 0, proc.stderr
    with tables.cursor() as cur:
        cur.execute("SELECT v FROM adm_p")
        assert cur.fetchall() == [(7,)]
    assert queue_row(proxy, "public.adm_p")["paused"] == "no"

    proc = run_psql(proxy, "PAUSE public.not_a_target")
    assert proc.returncode != 0
    assert "not a target" in proc.stderr
    proc = run_psql(proxy, "PAUSE")
    assert proc.returncode != 0 and "PAUSE takes one table name" in proc.stderr


def test_sighup_changes_a_limit_without_dropping_sessions(
        proxy_factory, proxy_binary, tables):
    proxy = start_proxy(proxy_factory, proxy_binary)
    conn = proxy.connect(application_name="adm-survivor")
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("INSERT INTO adm_h VALUES (1)")
    assert queue_row(proxy, "public.adm_h")["limit"] == "1"

    mark = proxy.log_mark()
    rewrite_ini(proxy, "tables", "public.adm_h", 3)
    os.kill(proxy.pid, signal.SIGHUP)
    proxy.expect_log(r"config_reloaded", mark)
    assert queue_row(proxy, "public.adm_h")["limit"] == "3"
    _, samples = scrape(proxy)
    assert metric(samples, "pgsluice_queue_limit", table="public.adm_h") == 3

    cur.execute("INSERT INTO adm_h VALUES (2)")
    cur.execute("SELECT count(*) FROM adm_h")
    assert cur.fetchone()[0] == 2

    # RELOAD from the console does the same; a broken file changes nothing.
    rewrite_ini(proxy, "tables", "public.adm_h", 2)
    assert console(proxy, "RELOAD") == []
    assert queue_row(proxy, "public.adm_h")["limit"] == "2"
    rewrite_ini(proxy, "tables", "public.adm_h", "many")
    proc = run_psql(proxy, "RELOAD")
    assert proc.returncode != 0 and "invalid value" in proc.stderr
    assert queue_row(proxy, "public.adm_h")["limit"] == "2"
    cur.execute("SELECT 1")
    conn.close()


# --- who may log in ------------------------------------------------------------

def wire_login(proxy, user, password):
    client = h.WireClient(proxy.host, proxy.port)
    try:
        return client, client.login(user, password, database="pgsluice")
    except Exception:
        client.close()
        raise


def test_wrong_password_is_refused(proxy_factory, proxy_binary):
    proxy = start_proxy(proxy_factory, proxy_binary)
    with pytest.raises(h.ProtocolError) as err:
        wire_login(proxy, OPS, "not-the-password")
    assert err.value.fields["C"] == "28P01"
    assert err.value.fields["M"] == 'password authentication failed for user "ops"'
    proxy.expect_log(r"admin_auth_failed .*user=ops.*reason=\"wrong password\"")
    proc = run_psql(proxy, "SHOW QUEUES", password="nope")
    assert proc.returncode != 0 and "password authentication failed" in proc.stderr
    assert "not-the-password" not in proxy.log_text()

    client, status = wire_login(proxy, OPS, OPS_PASSWORD)
    assert status == b"I"
    client.close()


def test_non_admin_users_are_refused(proxy_factory, proxy_binary):
    proxy = start_proxy(proxy_factory, proxy_binary)
    # A real database user with its right password is still no admin.
    for user, password in (("scram_user", h.PASSWORDS["scram_user"]),
                           ("nobody", OPS_PASSWORD)):
        with pytest.raises(h.ProtocolError) as err:
            wire_login(proxy, user, password)
        assert err.value.fields["C"] == "28P01"
        assert user in err.value.fields["M"]
    proxy.expect_log(r"admin_auth_failed .*user=nobody.*reason=\"no such user\"")


def test_console_never_touches_the_upstream(proxy_factory, proxy_binary):
    dead = h.free_port()
    proxy = start_proxy(proxy_factory, proxy_binary, upstream_port=dead,
                        connect_timeout=1)
    for command in ("SHOW QUEUES", "SHOW LOCKS", "SHOW CLIENTS", "SHOW STATS",
                    "SHOW ERRORS", "SHOW CONFIG", "SHOW HELP", "RETRY ON"):
        proc = run_psql(proxy, command)
        assert proc.returncode == 0, (command, proc.stderr)
    assert "08001" not in proxy.log_text()
    _, samples = scrape(proxy)
    assert metric(samples, "pgsluice_upstream_connect_failures_total") == 0


# --- the console's protocol ----------------------------------------------------

def kinds(messages):
    return [m[0] for m in messages]


def test_commands_are_case_blind_and_take_semicolons(proxy_factory, proxy_binary):
    proxy = start_proxy(proxy_factory, proxy_binary)
    client, _ = wire_login(proxy, OPS, OPS_PASSWORD)
    try:
        for sql in ("show queues", "SHOW QUEUES;", "Show Queues ;;",
                    "/* why */ SHOW -- comment\n QUEUES"):
            out = client.query(sql)
            assert kinds(out)[0] == b"T" and kinds(out)[-2:] == [b"C", b"Z"], sql
            assert out[-2][1] == b"SHOW\0"
        out = client.query("SHOW QUEUES; SHOW CONFIG")
        assert kinds(out).count(b"T") == 2 and out[-1] == (b"Z", b"I")

        out = client.query("SELECT 1")
        err = h.error_fields(out[0][1])
        assert out[0][0] == b"E" and err["C"] == "42601"
        assert "SHOW QUEUES" in err["H"] and "PAUSE" in err["H"]
        assert out[-1] == (b"Z", b"I")
        assert kinds(client.query(";")) == [b"I", b"Z"]

        # Extended protocol: one clear error, then the Sync's ReadyForQuery.
        client.send(h.message(b"P", b"\0SHOW QUEUES\0\0\0")
                    + h.message(b"B", b"\0\0\0\0\0\0\0\0")
                    + h.message(b"E", b"\0\0\0\0\0") + h.message(b"S"))
        first = client.read()
        assert first[0] == b"E" and h.error_fields(first[1])["C"] == "0A000"
        assert client.read() == (b"Z", b"I")
        assert kinds(client.query("SHOW HELP"))[0] == b"T"
    finally:
        client.close()
    assert run_psql(proxy, "SHOW").returncode != 0


def test_shutdown_stops_the_proxy(proxy_factory, proxy_binary):
    proxy = start_proxy(proxy_factory, proxy_binary, shutdown_timeout=5)
    proc = run_psql(proxy, "SHUTDOWN")
    assert proc.returncode == 0, proc.stderr
    assert "shutting down" in proc.stderr
    proxy.proc.wait(10)
    assert proxy.proc.returncode == 0
    proxy.expect_log(r"admin_shutdown .*user=ops")


# --- metrics -------------------------------------------------------------------

def test_metrics_endpoint(proxy_factory, proxy_binary, tables):
    proxy = start_proxy(proxy_factory, proxy_binary)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO adm_q VALUES (1)")
    conn.close()
    ctype, samples = scrape(proxy)
    assert ctype == "text/plain; version=0.0.4; charset=utf-8"
    assert metric(samples, "pgsluice_sessions_total") >= 1
    assert metric(samples, "pgsluice_bytes_total",
                  direction="client_to_server") > 0
    assert metric(samples, "pgsluice_bytes_total",
                  direction="server_to_client") > 0
    assert metric(samples, "pgsluice_protocol_errors_total") == 0
    assert metric(samples, "pgsluice_retry_budget_remaining") > 0
    assert metric(samples, "pgsluice_queue_grants_total",
                  table="public.adm_q") == 1
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in samples.items()
                     if k[0] == "pgsluice_hold_seconds_bucket"
                     and dict(k[1])["table"] == "public.adm_q")
    assert len(buckets) == 19 and buckets[-1] == (float("inf"), 1)
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:]))

    assert console(proxy, "RETRY OFF") == []
    _, samples = scrape(proxy)
    assert metric(samples, "pgsluice_retry_enabled") == 0

    base = "http://127.0.0.1:%d" % proxy.metrics_port
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/nothing", timeout=10)
    assert err.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(urllib.request.Request(
            base + "/metrics", data=b"x", method="POST"), timeout=10)
    assert err.value.code == 405


# --- retry switch ----------------------------------------------------------------

FLAKY = """
CREATE OR REPLACE FUNCTION adm_flaky() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
    -- a sequence is not rolled back: every other call fails
    IF nextval('adm_flaky_seq') % 2 = 1 THEN
        RAISE EXCEPTION 'could not serialize access due to concurrent update'
            USING ERRCODE = '40001';
    END IF;
    RETURN 1;
END $$"""


def next_call_fails(cur):
    """Moves adm_flaky_seq so that the next adm_flaky() call raises."""
    cur.execute("SELECT nextval('adm_flaky_seq')")
    if cur.fetchone()[0] % 2 == 1:
        cur.execute("SELECT nextval('adm_flaky_seq')")


def test_retry_off_lets_serialization_errors_through(
        proxy_factory, proxy_binary, tables):
    with tables.cursor() as cur:
        cur.execute("DROP SEQUENCE IF EXISTS adm_flaky_seq")
        cur.execute("CREATE SEQUENCE adm_flaky_seq")
        cur.execute(FLAKY)
    proxy = start_proxy(proxy_factory, proxy_binary, log_format="json")
    conn = proxy.connect()
    conn.autocommit = True
    cur = conn.cursor()
    try:
        cur.execute("INSERT INTO adm_r SELECT adm_flaky()")  # retried: hidden
        assert console(proxy, "RETRY OFF") == []
        next_call_fails(cur)
        with pytest.raises(psycopg2.errors.SerializationFailure):
            cur.execute("INSERT INTO adm_r SELECT adm_flaky()")
        assert console(proxy, "RETRY ON") == []
        next_call_fails(cur)
        cur.execute("INSERT INTO adm_r SELECT adm_flaky()")
        cur.execute("SELECT count(*) FROM adm_r")
        assert cur.fetchone()[0] == 2
    finally:
        conn.close()
    stats = rows_for(console(proxy, "SHOW STATS"), "table", "public.adm_r")[0]
    assert int(stats["retries"]) >= 2 and int(stats["retries_succeeded"]) >= 2
    errors = console(proxy, "SHOW ERRORS")
    assert any(e["sqlstate"] == "40001" and e["tables"] == "public.adm_r"
               for e in errors), errors


def test_metrics_escape_label_values(proxy_factory, proxy_binary):
    weird = 'public."we""ird\\x"'  # the table we"ird\x, as SQL quotes it
    proxy = start_proxy(proxy_factory, proxy_binary, tables={weird: 1})
    proc = run_psql(proxy, "PAUSE " + weird)
    assert proc.returncode == 0, proc.stderr
    assert queue_row(proxy, 'public.we"ird\\x')["paused"] == "yes"
    url = "http://127.0.0.1:%d/metrics" % proxy.metrics_port
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode("utf-8")
    assert 'pgsluice_queue_paused{table="public.we\\"ird\\\\x"} 1\n' in text
    samples = parse_metrics(text)
    assert metric(samples, "pgsluice_queue_paused", table='public.we"ird\\x') == 1
