"""Authentication through the proxy: the server's own method (SCRAM, md5,
cleartext password) decides, and a wrong password gets the server's error.

psycopg2 shows what a driver user sees; the raw wire client reads the
SQLSTATE that libpq keeps to itself for connection failures."""

import psycopg2
import pytest

import pgsluice_harness as h

USERS = ["scram_user", "md5_user", "clear_user"]


@pytest.mark.parametrize("user", USERS)
def test_right_password_gets_in(proxy, user):
    conn = proxy.connect(user)
    cur = conn.cursor()
    cur.execute("SELECT current_user, current_database()")
    assert cur.fetchone() == (user, h.DATABASE)
    conn.close()


@pytest.mark.parametrize("user", USERS)
def test_wrong_password_gets_server_error(proxy, user):
    with pytest.raises(psycopg2.OperationalError) as err:
        proxy.connect(user, password="not-the-password")
    assert 'password authentication failed for user "%s"' % user in str(
        err.value)

    client = h.WireClient(proxy.host, proxy.port)
    with pytest.raises(h.ProtocolError) as raw:
        client.login(user, "not-the-password")
    assert raw.value.fields["C"] == "28P01"
    assert raw.value.fields["S"] == "FATAL"
    assert client.expect_closed()
    client.close()


@pytest.mark.parametrize("user", USERS)
def test_wire_login_reaches_ready_for_query(proxy, user):
    client = h.WireClient(proxy.host, proxy.port)
    assert client.login(user) == b"I"
    rows = [m for m in client.query("SELECT current_user") if m[0] == b"D"]
    assert len(rows) == 1 and rows[0][1].endswith(user.encode())
    client.close()


def test_unknown_user_gets_server_error(proxy):
    client = h.WireClient(proxy.host, proxy.port)
    with pytest.raises(h.ProtocolError) as raw:
        client.login("no_such_user", "whatever")
    assert raw.value.fields["C"] == "28P01"
    client.close()


@pytest.mark.proxy_only
def test_passwords_never_logged(proxy_factory):
    """Even at debug level the proxy relays passwords without writing them
    down, whichever method carried them."""
    proxy = proxy_factory(log_level="debug")
    for user in USERS:
        proxy.connect(user).close()
        with pytest.raises(psycopg2.OperationalError):
            proxy.connect(user, password="wrong-" + h.PASSWORDS[user])
    proxy.expect_log(r"session_closed .*user=clear_user\b")
    log = proxy.log_text()
    for password in h.PASSWORDS.values():
        assert password not in log
