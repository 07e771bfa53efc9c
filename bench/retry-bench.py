#!/usr/bin/python3
"""Retry benchmark: sixteen conflicting results-table jobs (workloads.md
scenario 5) through pgsluice with retry on and the table NOT queued, against
the same jobs straight to PostgreSQL with the runbook's client-side retries.
Reports how many attempts each job took (pgsluice: from its log's
retry_attempt / retry_succeeded / retry_gave_up events) and the wall-clock
cost, and checks the table's contents after every run.

Usage: /usr/bin/python3 bench/retry-bench.py BUILD [--jobs 16] [--rows 2000]
           [--reps 3] [--max-attempts 5] [--modes M,M,...]

Starts its own PostgreSQL 15 (scripts/pgtemp.sh, default isolation
serializable) and BUILD/pgsluice, and stops both on exit. Modes:
pgsluice-retry (the table not queued), direct-runbook, and pgsluice-queued
(the same jobs with the table queued, limit 1, for comparison); all three
by default, taking turns within each repetition.
"""

import argparse
import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import psycopg2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
PGTEMP = os.path.join(REPO, "scripts", "pgtemp.sh")

# The runbook's policy: up to 5 tries, waiting 2, 4, 8, 16 s between them.
RUNBOOK_TRIES = 5
RUNBOOK_WAITS = [2, 4, 8, 16]
RETRYABLE = ("40001", "40P01")

MODES = ("pgsluice-retry", "direct-runbook", "pgsluice-queued")

JOB_SQL = ("BEGIN; DELETE FROM results WHERE run_id = %d; "
           "INSERT INTO results SELECT run_id, k, v FROM results_tmp "
           "WHERE run_id = %d; COMMIT;")


def free_port():
    out = subprocess.run(["sh", PGTEMP, "freeport"], check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip())


class World:
    """The cluster and proxies this run started; stop() undoes it all."""

    def __init__(self, build):
        self.dir = tempfile.mkdtemp(prefix="retry-bench-")
        self.build = build
        self.pg_port = None
        self.procs = []
        atexit.register(self.stop)

    def start_pg(self):
        self.pg_port = free_port()
        env = dict(os.environ, PGTEMP_CONF="default_transaction_isolation = "
                                           "'serializable'")
        subprocess.run(["sh", PGTEMP, "start", os.path.join(self.dir, "pg"),
                        str(self.pg_port)], check=True, env=env)

    def start_proxy(self, name, extra):
        port = free_port()
        ini = os.path.join(self.dir, name + ".ini")
        log = os.path.join(self.dir, name + ".log")
        with open(ini, "w") as f:
            f.write("[pgsluice]\nlisten_addr = 127.0.0.1\nlisten_port = %d\n"
                    "upstream_host = 127.0.0.1\nupstream_port = %d\n"
                    "server_sslmode = disable\nlog_format = json\n"
                    "log_level = info\n\n%s" % (port, self.pg_port, extra))
        logf = open(log, "wb")
        proc = subprocess.Popen([os.path.join(self.build, "pgsluice"), "-c", ini],
                                stdout=logf, stderr=logf,
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg2.connect(dsn(port)).close()
                break
            except psycopg2.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("pgsluice did not start; see %s" % log)
                time.sleep(0.1)
        return Endpoint(name, port, log)

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        self.procs = []
        if self.pg_port:
            subprocess.run(["sh", PGTEMP, "stop", os.path.join(self.dir, "pg")],
                           capture_output=True)
            self.pg_port = None
        shutil.rmtree(self.dir, ignore_errors=True)


def dsn(port, app=None):
    text = "host=127.0.0.1 port=%d dbname=postgres user=postgres" % port
    return text + (" application_name=%s" % app if app else "")


class Endpoint:
    def __init__(self, name, port, log=None):
        self.name, self.port, self.log = name, port, log

    def log_size(self):
        return os.path.getsize(self.log) if self.log else 0

    def events(self, since):
        """Retry events of the log after byte offset since, per
        application_name."""
        per_app = {}
        if not self.log:
            return per_app
        with open(self.log, "rb") as f:
            f.seek(since)
            for line in f.read().decode("utf-8", "replace").splitlines():
                if not line.startswith("{"):
                    continue
                ev = json.loads(line)
                if ev.get("event", "").startswith(("retry_", "serialization_")):
                    per_app.setdefault(ev.get("application_name"), []).append(ev)
        return per_app


def admin(port):
    conn = psycopg2.connect(dsn(port))
    conn.autocommit = True
    return conn


def setup(world, jobs, rows):
    conn = admin(world.pg_port)
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS results, results_tmp")
        # No index, like a Redshift table.
        cur.execute("CREATE TABLE results (run_id int, k int, v bigint)")
        cur.execute("CREATE TABLE results_tmp (run_id int, k int, v bigint)")
        cur.execute("INSERT INTO results_tmp SELECT j, k, j * 1000000 + k "
                    "FROM generate_series(0, %s) j, generate_series(1, %s) k",
                    (jobs - 1, rows))
    conn.close()


def reset(world, jobs, rows):
    conn = admin(world.pg_port)
    with conn.cursor() as cur:
        cur.execute("TRUNCATE results")
        cur.execute("INSERT INTO results SELECT j, k, -1 FROM "
                    "generate_series(0, %s) j, generate_series(1, %s) k",
                    (jobs - 1, rows))
        cur.execute("VACUUM ANALYZE results")
    conn.close()


def check(world, jobs, rows, succeeded):
    """The table must hold every succeeded job's rows once and the old rows
    of every other job; returns a list of problems."""
    conn = admin(world.pg_port)
    with conn.cursor() as cur:
        cur.execute("SELECT run_id, count(*), count(DISTINCT k), "
                    "sum(v) FROM results GROUP BY run_id ORDER BY run_id")
        got = {r[0]: r[1:] for r in cur.fetchall()}
    conn.close()
    problems = []
    for j in range(jobs):
        if j in succeeded:
            want = (rows, rows, sum(j * 1000000 + k for k in range(1, rows + 1)))
        else:
            want = (rows, rows, -rows)
        if got.get(j) != want:
            problems.append("run %d: want %s got %s" % (j, want, got.get(j)))
    return problems


def runbook_job(conn, sql):
    """The runbook's run_sql_with_retry, without its final 32 s sleep:
    returns (tries, error or None)."""
    for attempt in range(RUNBOOK_TRIES):
        try:
            with conn.cursor() as cur:
                cur.execute(sql)
            return attempt + 1, None
        except psycopg2.Error as e:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK")
            if e.pgcode not in RETRYABLE or attempt + 1 == RUNBOOK_TRIES:
                return attempt + 1, e
            time.sleep(RUNBOOK_WAITS[attempt])
    return RUNBOOK_TRIES, None


def plain_job(conn, sql):
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        return 1, None
    except psycopg2.Error as e:
        return 1, e


def run_mode(endpoint, client_retry, jobs, tag):
    conns = []
    for j in range(jobs):
        c = psycopg2.connect(dsn(endpoint.port, "%s-%d" % (tag, j)))
        c.autocommit = True
        conns.append(c)
    results = [None] * jobs
    barrier = threading.Barrier(jobs + 1)

    def body(j):
        barrier.wait()
        t0 = time.monotonic()
        job = runbook_job if client_retry else plain_job
        tries, err = job(conns[j], JOB_SQL % (j, j))
        results[j] = (tries, err, time.monotonic() - t0)

    threads = [threading.Thread(target=body, args=(j,)) for j in range(jobs)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.monotonic()
    for t in threads:
        t.join()
    makespan = time.monotonic() - start
    for c in conns:
        c.close()
    return results, makespan


def proxy_attempts(endpoint, since, tag, jobs):
    """Attempts per job as the proxy saw them: 1 plus its retry_attempt
    events; and whether it gave up."""
    per_app = endpoint.events(since)
    out = []
    for j in range(jobs):
        evs = per_app.get("%s-%d" % (tag, j), [])
        tries = 1 + sum(1 for e in evs if e["event"] == "retry_attempt")
        out.append(tries)
    return out


def gave_up(endpoint, since, tag):
    """Why the proxy let errors of this run through: reason -> count."""
    reasons = {}
    for app, evs in endpoint.events(since).items():
        if not app or not app.startswith(tag + "-"):
            continue
        why = [e.get("reason") for e in evs
               if e["event"] in ("retry_gave_up", "serialization_error_passed")]
        if why:
            reasons[why[-1]] = reasons.get(why[-1], 0) + 1
    return reasons


def histogram(values):
    counts = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return " ".join("%d:%d" % (k, counts[k]) for k in sorted(counts))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("build")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--max-attempts", type=int, default=5)
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--retry-option", action="append", default=[],
                    metavar="KEY=VALUE", help="another [retry] setting")
    args = ap.parse_args()

    world = World(os.path.abspath(args.build))
    world.start_pg()
    retry = ("[retry]\nenabled = on\nmax_attempts = %d\n" % args.max_attempts +
             "".join("%s = %s\n" % tuple(o.split("=", 1)) for o in args.retry_option))
    modes = []
    for name in args.modes.split(","):
        if name not in MODES:
            sys.exit("unknown mode %s (known: %s)" % (name, ", ".join(MODES)))
        if name == "direct-runbook":
            modes.append((name, Endpoint("direct", world.pg_port), True))
        else:
            extra = "[tables]\npublic.results = 1\n\n" if name.endswith("queued") else ""
            modes.append((name, world.start_proxy(name, extra + retry), False))
    setup(world, args.jobs, args.rows)
    print("%d jobs of scenario 5, %d rows each, %d repetitions; pgsluice "
          "max_attempts = %d%s, runbook %d tries waiting %s s"
          % (args.jobs, args.rows, args.reps, args.max_attempts,
             "".join(", " + o for o in args.retry_option), RUNBOOK_TRIES,
             ", ".join(map(str, RUNBOOK_WAITS))))
    summary = {name: [] for name, _, _ in modes}
    for rep in range(args.reps):
        for name, endpoint, client_retry in modes:
            reset(world, args.jobs, args.rows)
            tag = "r%d%s" % (rep, name.replace("-", ""))
            since = endpoint.log_size()
            results, makespan = run_mode(endpoint, client_retry, args.jobs, tag)
            why = {}
            if endpoint.log:
                time.sleep(0.2)  # the last lines reach the log
                tries = proxy_attempts(endpoint, since, tag, args.jobs)
                why = gave_up(endpoint, since, tag)
            else:
                tries = [r[0] for r in results]
            ok = {j for j, r in enumerate(results) if r[1] is None}
            problems = check(world, args.jobs, args.rows, ok)
            lat = sorted(r[2] for r in results)
            row = dict(makespan=makespan, failed=args.jobs - len(ok),
                       tries=tries, p50=statistics.median(lat), max=lat[-1],
                       problems=problems)
            summary[name].append(row)
            print("rep %d %-16s makespan %7.2f s  job p50 %6.2f s max %6.2f s  "
                  "failed %2d/%d  attempts per job %s (total %d)%s"
                  % (rep + 1, name, makespan, row["p50"], row["max"], row["failed"],
                     args.jobs, histogram(tries), sum(tries),
                     "  DATA CHECK FAILED: " + "; ".join(problems[:3])
                     if problems else "  data exact"))
            for reason, n in sorted(why.items()):
                print("      %d job(s) got the error: %s" % (n, reason))
    print()
    print("%-16s %12s %10s %14s %14s" % ("mode", "makespan p50", "failed",
                                          "attempts/job", "max attempts"))
    for name, rows in summary.items():
        tries = [t for r in rows for t in r["tries"]]
        print("%-16s %10.2f s %6d/%-3d %14.2f %14d" % (
            name, statistics.median(r["makespan"] for r in rows),
            sum(r["failed"] for r in rows), args.jobs * len(rows),
            sum(tries) / len(tries), max(tries)))
    bad = any(r["problems"] for rows in summary.values() for r in rows)
    world.stop()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
