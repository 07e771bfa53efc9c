"""TLS on both sides of the proxy: clients that must use TLS, and the proxy
verifying the server's certificate against a configured CA.

The server side is checked in pg_stat_ssl, the client side in libpq's own
view of the connection."""

import psycopg2
import pytest

import pgsluice_harness as h

SSL_QUERY = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"


def upstream_ssl(conn):
    cur = conn.cursor()
    cur.execute(SSL_QUERY)
    return cur.fetchone()[0]


def test_cluster_certificate_verifies_directly(pg, certs):
    """Harness check: the generated chain is valid for 127.0.0.1, and the
    unrelated CA really does not verify it."""
    conn = pg.connect(sslmode="verify-full", sslrootcert=certs.ca)
    assert conn.info.ssl_in_use and upstream_ssl(conn) is True
    conn.close()
    with pytest.raises(psycopg2.OperationalError, match="certificate"):
        pg.connect(sslmode="verify-full", sslrootcert=certs.wrong_ca)


@pytest.fixture
def tls_proxy(proxy_factory, certs):
    return proxy_factory(client_tls="require",
                         client_tls_cert=certs.proxy_cert,
                         client_tls_key=certs.proxy_key)


@pytest.mark.proxy_only
def test_client_tls_required_and_used(tls_proxy, certs):
    # SCRAM over TLS on both sides needs channel binding off (see below).
    conn = tls_proxy.connect(sslmode="verify-full", sslrootcert=certs.ca,
                             channel_binding="disable")
    assert conn.info.ssl_in_use
    assert conn.info.ssl_attribute("protocol") in ("TLSv1.2", "TLSv1.3")
    cur = conn.cursor()
    cur.execute("SELECT count(*) FROM generate_series(1, 50000)")
    assert cur.fetchone()[0] == 50000
    conn.close()


@pytest.mark.proxy_only
def test_client_tls_scram_with_channel_binding_preference(tls_proxy, certs):
    """The client's TLS ends at the proxy, so SCRAM channel binding cannot
    hold end to end. md5 and cleartext users log in with libpq's default
    preference; a SCRAM user logs in with channel_binding=disable, and with
    the default preference gets an error that says what to change (the
    server refuses a client that could bind but was not offered it)."""
    for user in ("md5_user", "clear_user"):
        conn = tls_proxy.connect(user, sslmode="require",
                                 channel_binding="prefer")
        assert conn.info.ssl_in_use
        conn.close()
    conn = tls_proxy.connect("scram_user", sslmode="require",
                             channel_binding="disable")
    assert conn.info.ssl_in_use
    conn.close()
    with pytest.raises(psycopg2.OperationalError) as err:
        tls_proxy.connect("scram_user", sslmode="require",
                          channel_binding="prefer")
    assert "channel_binding=disable" in str(err.value)


@pytest.mark.proxy_only
def test_plaintext_client_refused(tls_proxy):
    with pytest.raises(psycopg2.OperationalError) as err:
        tls_proxy.connect(sslmode="disable")
    assert str(err.value).strip()

    client = h.WireClient(tls_proxy.host, tls_proxy.port)
    client.send(h.startup_packet("scram_user"))
    fields = client.read_error_or_close()
    client.close()
    assert fields is not None, "no ErrorResponse for a plaintext startup"
    assert fields["C"][:2] in ("08", "28"), fields


@pytest.mark.proxy_only
def test_upstream_verify_full(proxy_factory, certs):
    proxy = proxy_factory(server_sslmode="verify-full",
                          server_tls_ca=certs.ca)
    conn = proxy.connect()
    assert upstream_ssl(conn) is True
    assert not conn.info.ssl_in_use
    conn.close()


@pytest.mark.proxy_only
def test_upstream_verify_full_wrong_ca_fails(proxy_factory, certs):
    proxy = proxy_factory(server_sslmode="verify-full",
                          server_tls_ca=certs.wrong_ca)
    with pytest.raises(psycopg2.OperationalError) as err:
        proxy.connect()
    text = str(err.value).lower()
    assert "certificate" in text or "verify" in text, text
    assert proxy.alive()


@pytest.mark.proxy_only
def test_upstream_tls_disabled_is_plain(proxy_factory):
    proxy = proxy_factory(server_sslmode="disable")
    conn = proxy.connect()
    assert upstream_ssl(conn) is False
    conn.close()
