"""Processes and wire helpers for pgsluice's integration tests.

This module owns the throwaway PostgreSQL cluster (TLS certificates, roles,
pg_hba.conf), the pgsluice processes the tests start, and a raw-socket
protocol client for feeding the proxy bad input; conftest.py turns these into
fixtures and the test files decide what a pass means.
"""

import atexit
import base64
import ctypes
import hashlib
import hmac
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import time

import psycopg2

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGBIN = "/usr/lib/postgresql/15/bin"
PGTEMP = os.path.join(REPO, "scripts", "pgtemp.sh")
DATABASE = "sluice_test"
DIRECT = os.environ.get("PGSLUICE_DIRECT") == "1"

# One role per upstream authentication method; the password names the role
# so that a mix-up shows in a failure message.
PASSWORDS = {
    "scram_user": "scram-secret",
    "md5_user": "md5-secret",
    "clear_user": "clear-secret",
}

SANITIZER_MARKS = (
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
)


def free_port():
    """Returns a TCP port on 127.0.0.1 that nothing listened on just now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent():
    """Runs in the child before exec: the kernel kills the proxy when the
    test runner dies, even by SIGKILL, so no proxy outlives its run."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def port_accepts(host, port, timeout=0.2):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def run(cmd, **kw):
    """Runs a command, raising with its output when it fails."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    proc = subprocess.run(cmd, **kw)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s%s" % (
            " ".join(cmd), proc.returncode, proc.stdout, proc.stderr))
    return proc


def conninfo(**fields):
    """Builds a libpq key=value connection string, quoting every value."""
    parts = []
    for key, value in fields.items():
        if value is None:
            continue
        text = str(value).replace("\\", "\\\\").replace("'", "\\'")
        parts.append("%s='%s'" % (key, text))
    return " ".join(parts)


def sanitizer_report(text):
    """Returns the lines around the first sanitizer report in text, or None."""
    for mark in SANITIZER_MARKS:
        at = text.find(mark)
        if at >= 0:
            start = text.rfind("\n", 0, max(at - 200, 0)) + 1
            return text[start:at + 3000]
    return None


# --- TLS material ------------------------------------------------------------

class Certs:
    """A CA, two certificates it signed for 127.0.0.1 and localhost (one for
    the server, one for the proxy, so that a relayed channel binding cannot
    pass by accident) and an unrelated CA that must verify neither."""

    def __init__(self, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        self.ca = os.path.join(directory, "ca.crt")
        self.ca_key = os.path.join(directory, "ca.key")
        self.cert = os.path.join(directory, "server.crt")
        self.key = os.path.join(directory, "server.key")
        self.proxy_cert = os.path.join(directory, "proxy.crt")
        self.proxy_key = os.path.join(directory, "proxy.key")
        self.wrong_ca = os.path.join(directory, "wrong-ca.crt")

    def generate(self):
        self._make_ca(self.ca, self.ca_key, "pgsluice test CA")
        self._make_ca(self.wrong_ca, os.path.join(self.dir, "wrong-ca.key"),
                      "pgsluice unrelated CA")
        self._make_leaf(self.cert, self.key, "server")
        self._make_leaf(self.proxy_cert, self.proxy_key, "proxy")
        return self

    def _make_leaf(self, cert, key, name):
        csr = os.path.join(self.dir, name + ".csr")
        ext = os.path.join(self.dir, name + ".ext")
        with open(ext, "w") as f:
            f.write("basicConstraints = CA:FALSE\n"
                    "keyUsage = digitalSignature, keyEncipherment\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = IP:127.0.0.1, DNS:localhost\n")
        run(["openssl", "req", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.ca,
             "-CAkey", self.ca_key, "-CAcreateserial", "-days", "30",
             "-out", cert, "-extfile", ext])
        os.chmod(key, 0o600)

    @staticmethod
    def _make_ca(cert, key, name):
        run(["openssl", "req", "-x509", "-new", "-nodes", "-newkey", "ec",
             "-pkeyopt", "ec_paramgen_curve:prime256v1", "-days", "30",
             "-keyout", key, "-out", cert, "-subj", "/CN=" + name])


# --- PostgreSQL --------------------------------------------------------------

HBA = """\
local all all trust
host all postgres 127.0.0.1/32 trust
host all scram_user 127.0.0.1/32 scram-sha-256
host all md5_user 127.0.0.1/32 md5
host all clear_user 127.0.0.1/32 password
host all all 127.0.0.1/32 scram-sha-256
"""


class Cluster:
    """A throwaway PostgreSQL 15 cluster started through scripts/pgtemp.sh.

    stop() is idempotent and registered with atexit, so an interrupted run
    does not leave a server behind."""

    def __init__(self, directory, port=None):
        self.dir = directory
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.running = False
        atexit.register(self.stop)

    def start(self):
        run(["sh", PGTEMP, "start", self.dir, str(self.port)])
        self.running = True
        return self

    def stop(self):
        if self.running:
            self.running = False
            subprocess.run(["sh", PGTEMP, "stop", self.dir],
                           capture_output=True)

    def admin(self, dbname="postgres"):
        """An autocommit superuser connection straight to the server."""
        conn = psycopg2.connect(host=self.host, port=self.port,
                                user="postgres", dbname=dbname)
        conn.autocommit = True
        return conn

    def dsn(self, user="scram_user", password=None, dbname=DATABASE, **kw):
        if password is None:
            password = PASSWORDS.get(user)
        return conninfo(host=self.host, port=self.port, user=user,
                        password=password, dbname=dbname, **kw)

    def connect(self, user="scram_user", **kw):
        return psycopg2.connect(self.dsn(user, **kw))

    def configure(self, certs):
        """Turns on TLS with certs, creates the test roles and database and
        installs pg_hba.conf, then reloads."""
        for src, name in ((certs.cert, "server.crt"), (certs.key, "server.key")):
            dst = os.path.join(self.dir, name)
            shutil.copyfile(src, dst)
            shutil.chown(dst, "postgres", "postgres")
            os.chmod(dst, 0o600)
        with open(os.path.join(self.dir, "pg_hba.conf"), "w") as f:
            f.write(HBA)
        conn = self.admin()
        with conn.cursor() as cur:
            cur.execute("ALTER SYSTEM SET ssl = on")
            cur.execute("ALTER SYSTEM SET ssl_cert_file = 'server.crt'")
            cur.execute("ALTER SYSTEM SET ssl_key_file = 'server.key'")
            self._create_roles(cur)
            cur.execute("CREATE DATABASE %s OWNER scram_user" % DATABASE)
            cur.execute("SELECT pg_reload_conf()")
        conn.close()
        conn = self.admin(DATABASE)
        with conn.cursor() as cur:
            cur.execute("ALTER SCHEMA public OWNER TO scram_user")
            cur.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        conn.close()
        self._wait_for_ssl()

    @staticmethod
    def _create_roles(cur):
        methods = (("scram_user", "scram-sha-256"), ("md5_user", "md5"),
                   ("clear_user", "scram-sha-256"))
        for user, encryption in methods:
            cur.execute("SET password_encryption = %s", (encryption,))
            cur.execute("CREATE ROLE %s LOGIN PASSWORD %%s" % user,
                        (PASSWORDS[user],))
        cur.execute("RESET password_encryption")

    def _wait_for_ssl(self):
        deadline = time.monotonic() + 10
        while True:
            try:
                psycopg2.connect(self.dsn(sslmode="require")).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


# --- pgsluice ----------------------------------------------------------------

class Endpoint:
    """What a test connects to: the proxy, or the server itself in direct
    mode. Subclasses say where it listens and what it logged."""

    direct = False
    host = "127.0.0.1"
    port = None

    def dsn(self, user="scram_user", password=None, dbname=DATABASE, **kw):
        if password is None:
            password = PASSWORDS.get(user)
        return conninfo(host=self.host, port=self.port, user=user,
                        password=password, dbname=dbname, **kw)

    def connect(self, user="scram_user", **kw):
        return psycopg2.connect(self.dsn(user, **kw))

    def log_text(self):
        return ""

    def log_mark(self):
        return len(self.log_text())

    def log_since(self, mark):
        return self.log_text()[mark:]

    def wait_log(self, pattern, mark=0, timeout=5.0):
        """Waits until a line matching the regex appears after mark; returns
        the match, or None when the timeout passes."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.log_since(mark), re.M)
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def expect_log(self, pattern, mark=0, timeout=5.0):
        """Asserts that the proxy logs a line matching pattern after mark;
        in direct mode there is no proxy log and nothing is checked."""
        if self.direct:
            return None
        m = self.wait_log(pattern, mark, timeout)
        assert m, "no log line matching %r in:\n%s" % (
            pattern, self.log_since(mark)[-4000:])
        return m


class DirectEndpoint(Endpoint):
    """The PostgreSQL server itself, standing in for the proxy."""

    direct = True

    def __init__(self, cluster):
        self.host = cluster.host
        self.port = cluster.port


def ini_text(sections):
    lines = []
    for section, keys in sections.items():
        lines.append("[%s]" % section)
        for key, value in keys.items():
            lines.append("%s = %s" % (key, value))
        lines.append("")
    return "\n".join(lines)


class Proxy(Endpoint):
    """One pgsluice process with its own INI file and captured stderr."""

    def __init__(self, binary, directory, cluster, settings=None,
                 sections=None):
        self.binary = binary
        self.dir = directory
        self.port = free_port()
        self.proc = None
        self.returncode = None
        os.makedirs(directory, exist_ok=True)
        self.ini = os.path.join(directory, "pgsluice.ini")
        self.log_path = os.path.join(directory, "pgsluice.log")
        main = {
            "listen_addr": "127.0.0.1",
            "listen_port": self.port,
            "upstream_host": cluster.host,
            "upstream_port": cluster.port,
            "log_level": "info",
            "shutdown_timeout": 5,
        }
        main.update(settings or {})
        self.sections = {"pgsluice": main}
        for name, keys in (sections or {}).items():
            self.sections.setdefault(name, {}).update(keys)
        atexit.register(self.kill)

    def start(self, timeout=15.0):
        with open(self.ini, "w") as f:
            f.write(ini_text(self.sections))
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:halt_on_error=1")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([self.binary, "-c", self.ini],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf,
                                     env=env, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while not port_accepts(self.host, self.port):
            if self.proc.poll() is not None:
                raise RuntimeError("pgsluice exited with %d at start:\n%s" % (
                    self.proc.returncode, self.log_text()))
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError("pgsluice did not listen on %d within "
                                   "%.0fs:\n%s" % (self.port, timeout,
                                                   self.log_text()))
            time.sleep(0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def terminate(self, timeout=10.0):
        """Sends SIGTERM and waits; returns the exit code, or None when the
        process outlived the timeout (it is then killed)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(timeout)
            return self.returncode
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "logf", None):
            self.logf.close()
            self.logf = None

    def tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])


# --- raw protocol ------------------------------------------------------------

PROTOCOL_3 = 196608


def startup_packet(user, database=DATABASE, **params):
    body = struct.pack("!i", PROTOCOL_3)
    fields = dict(user=user, database=database, **params)
    for key, value in fields.items():
        body += key.encode() + b"\0" + str(value).encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def message(kind, payload=b""):
    return kind + struct.pack("!i", len(payload) + 4) + payload


def error_fields(payload):
    """Decodes an ErrorResponse or NoticeResponse body into {code: text}."""
    fields = {}
    for part in payload.split(b"\0"):
        if part:
            fields[chr(part[0])] = part[1:].decode("utf-8", "replace")
    return fields


class ProtocolError(Exception):
    """The server sent an ErrorResponse where the client expected progress."""

    def __init__(self, fields):
        super().__init__("%s %s" % (fields.get("C"), fields.get("M")))
        self.fields = fields


class WireClient:
    """A protocol 3 client over a plain socket, for sending what libpq never
    would. Reads return (type byte, payload), or None once the peer closed."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        return True

    def read(self):
        if not self._fill(5):
            return None
        kind = self.buf[:1]
        length = struct.unpack("!i", self.buf[1:5])[0]
        if length < 4 or not self._fill(1 + length):
            raise ConnectionError("bad or truncated message %r" % kind)
        payload = self.buf[5:1 + length]
        self.buf = self.buf[1 + length:]
        return kind, payload

    def read_error_or_close(self):
        """Reads until an ErrorResponse (returns its fields) or the close
        (returns None). A reset counts as a close."""
        while True:
            try:
                msg = self.read()
            except (ConnectionResetError, BrokenPipeError):
                return None
            if msg is None:
                return None
            if msg[0] == b"E":
                return error_fields(msg[1])

    def expect_closed(self):
        """True when the peer closes; extra messages before it are skipped."""
        while True:
            try:
                if self.read() is None:
                    return True
            except (ConnectionResetError, BrokenPipeError):
                return True

    def login(self, user, password=None, database=DATABASE, **params):
        """Runs startup (with extra startup parameters) and authentication
        (cleartext, md5 or SCRAM) up to ReadyForQuery; returns the
        transaction status, or raises ProtocolError with the server's
        fields."""
        if password is None:
            password = PASSWORDS.get(user, "")
        self.send(startup_packet(user, database, **params))
        scram = None
        while True:
            msg = self.read()
            if msg is None:
                raise ConnectionError("closed during login")
            kind, payload = msg
            if kind == b"E":
                raise ProtocolError(error_fields(payload))
            if kind == b"Z":
                return payload
            if kind == b"R":
                scram = self._auth_step(payload, user, password, scram)

    def _auth_step(self, payload, user, password, scram):
        code = struct.unpack("!i", payload[:4])[0]
        if code == 3:
            self.send(message(b"p", password.encode() + b"\0"))
        elif code == 5:
            inner = hashlib.md5((password + user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + payload[4:8]).hexdigest()
            self.send(message(b"p", b"md5" + outer.encode() + b"\0"))
        elif code == 10:
            scram = ScramClient(password)
            first = scram.first_message()
            self.send(message(b"p", b"SCRAM-SHA-256\0" +
                              struct.pack("!i", len(first)) + first))
        elif code == 11:
            self.send(message(b"p", scram.final_message(payload[4:])))
        elif code == 12:
            scram.check_server_final(payload[4:])
        elif code != 0:
            raise ConnectionError("unsupported authentication code %d" % code)
        return scram

    def query(self, sql):
        """Sends a simple Query and collects messages up to ReadyForQuery."""
        self.send(message(b"Q", sql.encode() + b"\0"))
        out = []
        while True:
            msg = self.read()
            if msg is None:
                raise ConnectionError("closed during query")
            out.append(msg)
            if msg[0] == b"Z":
                return out


class ScramClient:
    """The client half of SCRAM-SHA-256 without channel binding (RFC 7677),
    enough to reach the server's verdict on a password."""

    def __init__(self, password):
        self.password = password.encode()
        self.nonce = base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = "n=,r=" + self.nonce
        self.server_signature = None

    def first_message(self):
        return ("n,," + self.first_bare).encode()

    def final_message(self, server_first):
        text = server_first.decode()
        attrs = dict(item.split("=", 1) for item in text.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise ConnectionError("server nonce does not extend ours")
        salted = hashlib.pbkdf2_hmac("sha256", self.password,
                                     base64.b64decode(attrs["s"]),
                                     int(attrs["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = "c=biws,r=" + attrs["r"]
        auth = ",".join((self.first_bare, text, without_proof)).encode()
        signature = hmac.digest(stored_key, auth, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self.server_signature = hmac.digest(server_key, auth, "sha256")
        return (without_proof + ",p=" +
                base64.b64encode(proof).decode()).encode()

    def check_server_final(self, server_final):
        text = server_final.decode()
        want = "v=" + base64.b64encode(self.server_signature).decode()
        if text != want:
            raise ConnectionError("server signature mismatch: %s" % text)
