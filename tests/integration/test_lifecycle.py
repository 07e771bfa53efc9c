"""The proxy's own life around its upstream and its signals: an unreachable
server gives clients an error naming it and the proxy recovers by itself
when the server comes up; SIGTERM ends the process cleanly.

These tests start a second throwaway cluster or their own proxy, so they are
proxy only."""

import tempfile
import threading
import time

import psycopg2
import pytest

import pgsluice_harness as h

pytestmark = pytest.mark.proxy_only


def startup_error(proxy, user="postgres", database="postgres"):
    client = h.WireClient(proxy.host, proxy.port, timeout=15)
    client.send(h.startup_packet(user, database))
    fields = client.read_error_or_close()
    client.close()
    return fields


def test_upstream_down_then_up(proxy_factory, workdir):
    port = h.free_port()
    proxy = proxy_factory(upstream_port=port, connect_timeout=2)

    fields = startup_error(proxy)
    proxy.expect_log(r"session_error .*sqlstate=08001\b")
    assert fields is not None, "closed without an ErrorResponse"
    assert fields["C"] == "08001", fields
    text = fields.get("M", "") + " " + fields.get("D", "")
    assert "127.0.0.1" in text and str(port) in text, fields
    with pytest.raises(psycopg2.OperationalError, match=str(port)):
        psycopg2.connect(host=proxy.host, port=proxy.port, user="postgres",
                         dbname="postgres")

    second = h.Cluster(tempfile.mkdtemp(prefix="pg2-", dir=workdir), port)
    try:
        second.start()
        conn = psycopg2.connect(host=proxy.host, port=proxy.port,
                                user="postgres", dbname="postgres")
        cur = conn.cursor()
        cur.execute("SHOW port")
        assert cur.fetchone()[0] == str(port)

        # The server going away mid-session is an error, not a hang, and the
        # proxy stays up for the next session.
        second.stop()
        with pytest.raises(psycopg2.OperationalError):
            cur.execute("SELECT 1")
        conn.close()
        assert proxy.alive()
        assert startup_error(proxy)["C"] == "08001"
    finally:
        second.stop()


def test_sigterm_with_idle_session_exits_zero(proxy_factory):
    proxy = proxy_factory(shutdown_timeout=2)
    conn = proxy.connect()
    cur = conn.cursor()
    cur.execute("SELECT 1")
    conn.commit()

    start = time.monotonic()
    code = proxy.terminate(timeout=10)
    elapsed = time.monotonic() - start
    assert code == 0, "exit code %s after %.1f s:\n%s" % (
        code, elapsed, proxy.tail())
    assert elapsed <= 2 + 1.5, elapsed
    with pytest.raises(psycopg2.OperationalError):
        cur.execute("SELECT 1")
    conn.close()


def test_sigterm_lets_running_query_finish(proxy_factory):
    proxy = proxy_factory(shutdown_timeout=3)
    conn = proxy.connect()
    cur = conn.cursor()
    result = {}

    def run():
        try:
            cur.execute("SELECT pg_sleep(1), 'done'")
            result["row"] = cur.fetchone()
        except psycopg2.Error as exc:
            result["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.3)
    code = proxy.terminate(timeout=10)
    worker.join(10)
    assert code == 0, proxy.tail()
    assert result.get("row") == ("", "done"), result
    conn.close()
