"""Sweep workers sharing a study on a real PostgreSQL server (opt-in: pytest -m postgres).

A server of its own is made for the test with initdb in a temporary folder and started
with pg_ctl on a free loopback port; PostgreSQL refuses to run as root, so where the
test runs as root the server runs as the ``postgres`` user. The test skips, saying why,
where PostgreSQL or its Python driver is not installed.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

from tests.engine.sweep_helpers import a_killed_worker_loses_nothing, two_workers_share_one_study

pytestmark = pytest.mark.postgres
pytest.importorskip("optuna")
pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed: pip install "
                                      "'maml-studio[sweep]'")
USER = "maml"


def _program(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))  # Debian keeps them here
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _program("initdb"), _program("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.skip("PostgreSQL is not installed (no initdb and pg_ctl; Debian: apt-get install postgresql)")
    run_as: list[str] = []
    owner = None
    if os.geteuid() == 0:  # the server will not run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root, and there is no postgres user to run the server as")
        run_as = [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="maml-studio-postgres-"))
    data, log = folder / "data", folder / "server.log"
    if owner is not None:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    subprocess.run([*run_as, initdb, "-D", str(data), "-U", USER, "--auth=trust", "-E", "UTF8"],
                   check=True, capture_output=True, timeout=120)
    for _ in range(3):  # the free port found may be taken before the server binds it
        port = _free_port()
        options = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{folder}'"
        started = subprocess.run([*run_as, pg_ctl, "-D", str(data), "-l", str(log), "-o", options,
                                  "-w", "-t", "60", "start"], capture_output=True, text=True, timeout=120)
        if started.returncode == 0:
            break
    else:
        problem = started.stderr + (log.read_text() if log.exists() else "")
        shutil.rmtree(folder, ignore_errors=True)
        pytest.fail(f"PostgreSQL did not start: {problem}")
    try:
        yield f"postgresql://{USER}@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fresh_database(postgres_url):
    """A database of its own for each test, on the one server."""
    import psycopg

    name = f"sweeps_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return postgres_url.rsplit("/", 1)[0] + f"/{name}"


def test_two_workers_share_one_study_on_postgresql(tmp_path, fresh_database):
    two_workers_share_one_study(tmp_path, storage=fresh_database)


def test_a_worker_killed_mid_trial_loses_nothing_on_postgresql(tmp_path, fresh_database):
    a_killed_worker_loses_nothing(tmp_path, storage=fresh_database)
