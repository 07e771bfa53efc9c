"""pgbench through the proxy in each query mode: 8 clients for a few seconds
must finish with no failed transaction.

The tables are made straight on the server (pgbench -i) once per module, so
only the benchmark traffic goes through pgsluice."""

import os
import re
import subprocess

import pytest

import pgsluice_harness as h

PGBENCH = os.path.join(h.PGBIN, "pgbench")


def pgbench(endpoint_dsn_fields, *args, timeout=120):
    env = dict(os.environ, PGPASSWORD=h.PASSWORDS["scram_user"])
    cmd = [PGBENCH, "-h", endpoint_dsn_fields[0],
           "-p", str(endpoint_dsn_fields[1]), "-U", "scram_user"]
    cmd += list(args) + [h.DATABASE]
    return subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def pgbench_tables(pg):
    proc = pgbench((pg.host, pg.port), "-i", "-q", "-s", "1")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_no_failed_transactions(proxy, pgbench_tables, mode):
    proc = pgbench((proxy.host, proxy.port), "-n", "-c", "8", "-j", "2",
                   "-T", "3", "-M", mode)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert re.search(r"^query mode: %s$" % mode, out, re.M), out
    processed = re.search(r"number of transactions actually processed: (\d+)",
                          out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    assert processed and failed, out
    assert int(processed.group(1)) > 100, out
    assert int(failed.group(1)) == 0, out
