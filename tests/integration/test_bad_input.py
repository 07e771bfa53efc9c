"""Malformed and hostile input from clients: each case gets an ErrorResponse
with the right SQLSTATE or a closed connection, promptly, and the proxy
keeps serving normal sessions afterwards.

Straight to PostgreSQL (direct mode) the server often just closes without an
ErrorResponse; through the proxy the design promises the ErrorResponse."""

import random
import socket
import struct
import time

import pytest

import pgsluice_harness as h

MAX_MESSAGE = 1024 * 1024


@pytest.fixture(scope="module")
def strict(request, pg):
    """A proxy with small limits, or the server itself in direct mode."""
    if h.DIRECT:
        return h.DirectEndpoint(pg)
    start = request.getfixturevalue("module_proxy_factory")
    return start(startup_timeout=2, max_message_size="1MB")


@pytest.fixture
def endpoint(strict):
    """Per test: the endpoint, checked to be alive and serving afterwards."""
    yield strict
    assert_still_serves(strict)


def assert_still_serves(endpoint):
    if not endpoint.direct:
        assert endpoint.alive(), "pgsluice died:\n" + endpoint.tail()
        report = h.sanitizer_report(endpoint.log_text())
        assert report is None, report
    conn = endpoint.connect()
    cur = conn.cursor()
    cur.execute("SELECT 'fine'")
    assert cur.fetchone()[0] == "fine"
    conn.close()


def assert_rejected(endpoint, fields, codes):
    """Through the proxy an ErrorResponse with one of codes is required;
    direct, the server may close instead."""
    if fields is None and endpoint.direct:
        return
    assert fields is not None, "connection closed without an ErrorResponse"
    assert fields.get("C") in codes, fields
    assert fields.get("S") in ("FATAL", "ERROR"), fields


def expect_error_logged(endpoint, mark, codes):
    endpoint.expect_log(r"session_error .*sqlstate=(%s)\b" % "|".join(codes),
                        mark)


def logged_in(endpoint, **params):
    client = h.WireClient(endpoint.host, endpoint.port, timeout=10)
    assert client.login("clear_user", **params) == b"I"
    return client


def test_huge_startup_length(endpoint):
    mark = endpoint.log_mark()
    client = h.WireClient(endpoint.host, endpoint.port)
    client.send(struct.pack("!ii", 0x7FFFFFFF, h.PROTOCOL_3) + b"user\0x\0")
    fields = client.read_error_or_close()
    client.close()
    assert_rejected(endpoint, fields, ("08P01", "54000"))
    expect_error_logged(endpoint, mark, ("08P01", "54000"))


def test_startup_length_below_minimum(endpoint):
    client = h.WireClient(endpoint.host, endpoint.port)
    client.send(struct.pack("!i", 2))
    fields = client.read_error_or_close()
    client.close()
    assert_rejected(endpoint, fields, ("08P01",))


def test_negative_length_after_startup(endpoint):
    client = logged_in(endpoint)
    mark = endpoint.log_mark()
    client.send(b"Q" + struct.pack("!i", -5))
    fields = client.read_error_or_close()
    assert client.expect_closed()
    client.close()
    assert_rejected(endpoint, fields, ("08P01",))
    expect_error_logged(endpoint, mark, ("08P01",))


def test_length_below_four_after_startup(endpoint):
    client = logged_in(endpoint)
    client.send(b"Q" + struct.pack("!i", 3))
    fields = client.read_error_or_close()
    client.close()
    assert_rejected(endpoint, fields, ("08P01",))


def test_truncated_message_then_close_frees_upstream(endpoint, admin):
    client = logged_in(endpoint, application_name="truncated-case")
    client.send(b"Q" + struct.pack("!i", 100) + b"SELECT 1")
    client.close()

    cur = admin.cursor()
    deadline = time.monotonic() + 5
    while True:
        cur.execute("SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = 'truncated-case'")
        if cur.fetchone()[0] == 0:
            break
        assert time.monotonic() < deadline, "upstream session left open"
        time.sleep(0.1)


def random_garbage():
    """Random bytes whose would-be length field is impossible (negative or
    far over the limit), so a correct peer rejects instead of waiting."""
    for seed in range(1000):
        data = random.Random(seed).randbytes(256)
        length = struct.unpack("!i", data[1:5])[0]
        if length < 4 or length > 64 * MAX_MESSAGE:
            return data
    raise AssertionError("no seed gave an impossible length")


def test_random_bytes_after_startup(endpoint):
    client = logged_in(endpoint)
    client.send(random_garbage())
    fields = client.read_error_or_close()
    client.close()
    assert_rejected(endpoint, fields, ("08P01", "54000"))


def test_query_over_max_message_size(endpoint):
    if endpoint.direct:
        pytest.skip("max_message_size is the proxy's limit")
    client = logged_in(endpoint)
    sql = b"SELECT '" + b"x" * (2 * MAX_MESSAGE) + b"'\0"
    try:
        client.send(h.message(b"Q", sql))
    except (BrokenPipeError, ConnectionResetError):
        pass
    fields = client.read_error_or_close()
    client.close()
    assert_rejected(endpoint, fields, ("54000",))


@pytest.mark.proxy_only
def test_silent_client_hits_startup_timeout(endpoint):
    client = h.WireClient(endpoint.host, endpoint.port, timeout=10)
    start = time.monotonic()
    try:
        client.read_error_or_close()
    except socket.timeout:
        pytest.fail("connection still open after 10 s (startup_timeout=2)")
    elapsed = time.monotonic() - start
    client.close()
    assert 1.5 <= elapsed <= 5.0, elapsed
