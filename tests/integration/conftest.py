"""Fixtures for pgsluice's integration tests: one PostgreSQL 15 cluster and
one default proxy per run, plus a factory for proxies with their own config.

Environment:
  PGSLUICE_BUILD   build directory holding pgsluice (default build/san)
  PGSLUICE_DIRECT  1: connect tests straight to PostgreSQL; tests marked
                   proxy_only are skipped
  PGSLUICE_KEEP    1: keep the temporary directory (logs, cluster) at the end
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest

import pgsluice_harness as h

DIRECT = h.DIRECT
BUILD = os.path.join(h.REPO, os.environ.get("PGSLUICE_BUILD", "build/san"))


def _interrupt(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def pytest_configure(config):
    # A runner stopped by SIGTERM (timeout, CI cancel) still tears fixtures
    # down, which stops the clusters and proxies.
    signal.signal(signal.SIGTERM, _interrupt)
    config.addinivalue_line(
        "markers", "proxy_only: the test needs pgsluice itself; skipped when "
        "PGSLUICE_DIRECT=1")


def pytest_collection_modifyitems(config, items):
    if not DIRECT:
        return
    skip = pytest.mark.skip(reason="needs the proxy (PGSLUICE_DIRECT=1)")
    for item in items:
        if "proxy_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attaches the tail of every proxy log the test used to its failure."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    node = item
    while node is not None:
        for proxy in node.__dict__.get("_pgsluice_proxies", []):
            if proxy.direct:
                continue
            report.sections.append(("pgsluice log " + proxy.dir, proxy.tail()))
        node = node.parent


@pytest.fixture(scope="session")
def workdir():
    path = tempfile.mkdtemp(prefix="pgsluice-it-")
    yield path
    if os.environ.get("PGSLUICE_KEEP") != "1":
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def certs(workdir):
    return h.Certs(os.path.join(workdir, "certs")).generate()


@pytest.fixture(scope="session")
def pg(workdir, certs):
    cluster = h.Cluster(os.path.join(workdir, "pg"))
    try:
        cluster.start()
        cluster.configure(certs)
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def proxy_binary():
    path = os.path.join(BUILD, "pgsluice")
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing; build it with make BUILD=%s SAN=1 %s, or "
                    "set PGSLUICE_DIRECT=1" % (path, os.path.relpath(BUILD, h.REPO),
                                              os.path.relpath(path, h.REPO)))
    return path


class ProxyPool:
    """Starts proxies under one directory and stops them all at teardown,
    failing if any of them logged a sanitizer report."""

    def __init__(self, workdir, pg, binary):
        self.workdir = workdir
        self.pg = pg
        self.binary = binary
        self.proxies = []

    def start(self, sections=None, **settings):
        directory = tempfile.mkdtemp(prefix="proxy-", dir=self.workdir)
        proxy = h.Proxy(self.binary, directory, self.pg, settings, sections)
        self.proxies.append(proxy)
        return proxy.start()

    def stop_all(self):
        reports = []
        for proxy in self.proxies:
            if proxy.alive() and proxy.terminate() is None:
                reports.append("%s ignored SIGTERM; killed" % proxy.dir)
            report = h.sanitizer_report(proxy.log_text())
            if report:
                reports.append("%s:\n%s" % (proxy.log_path, report))
        self.proxies = []
        if reports:
            pytest.fail("\n".join(reports), pytrace=False)


def _track(request, proxy):
    request.node.__dict__.setdefault("_pgsluice_proxies", []).append(proxy)


@pytest.fixture(scope="session")
def _session_proxy(workdir, pg, request):
    if DIRECT:
        yield h.DirectEndpoint(pg)
        return
    pool = ProxyPool(workdir, pg, request.getfixturevalue("proxy_binary"))
    try:
        yield pool.start()
    finally:
        pool.stop_all()


@pytest.fixture
def proxy(_session_proxy, request):
    """The shared default proxy (or the server in direct mode). After each
    test it must still run and must not have logged a sanitizer report."""
    _track(request, _session_proxy)
    mark = _session_proxy.log_mark()
    yield _session_proxy
    if _session_proxy.direct:
        return
    report = h.sanitizer_report(_session_proxy.log_since(mark))
    if report:
        pytest.fail("sanitizer report in pgsluice log:\n" + report,
                    pytrace=False)
    if not _session_proxy.alive():
        pytest.fail("pgsluice exited (%s) during the test:\n%s" % (
            _session_proxy.proc.returncode, _session_proxy.tail()),
            pytrace=False)


def _factory(workdir, pg, request):
    pool = ProxyPool(workdir, pg, request.getfixturevalue("proxy_binary"))

    def start(sections=None, **settings):
        proxy = pool.start(sections, **settings)
        _track(request, proxy)
        return proxy

    return pool, start


@pytest.fixture
def proxy_factory(workdir, pg, request):
    """start(sections=None, **pgsluice_keys) -> a new proxy with those
    settings, stopped after the test. Tests using it are marked proxy_only,
    so direct mode never gets here."""
    pool, start = _factory(workdir, pg, request)
    yield start
    pool.stop_all()


@pytest.fixture(scope="module")
def module_proxy_factory(workdir, pg, request):
    """Like proxy_factory, for proxies a whole test module shares."""
    pool, start = _factory(workdir, pg, request)
    yield start
    pool.stop_all()


@pytest.fixture(scope="session")
def libpq_client(workdir):
    """The C client from $PGSLUICE_BUILD/tests, or compiled here when the
    build has not made it yet."""
    built = os.path.join(BUILD, "tests", "libpq_client")
    if os.access(built, os.X_OK):
        return built
    out = os.path.join(workdir, "libpq_client")
    include = subprocess.run(["pg_config", "--includedir"], check=True,
                             capture_output=True, text=True).stdout.strip()
    h.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-g", "-I" + include,
           "-o", out, os.path.join(os.path.dirname(__file__), "libpq_client.c"),
           "-lpq"])
    return out


@pytest.fixture
def admin(pg):
    """A superuser connection straight to the server, in sluice_test."""
    conn = pg.admin(h.DATABASE)
    yield conn
    conn.close()
