"""Where a sweep's study lives: Optuna's RDB storage on SQLite or PostgreSQL.

Optuna is an optional dependency (the ``sweep`` extra); `require_optuna` says in one
line how to get it. `open_storage` opens the storage many worker processes share:

- **SQLite** (the default: ``sweeps.db`` in the workspace). Several processes on one
  machine write to the file at once, so every transaction starts with ``BEGIN
  IMMEDIATE`` and waits up to a minute for the lock: SQLite's deferred transactions
  would otherwise fail at once with "database is locked" when two readers both try to
  write. The file is in WAL mode, so the window reading it never blocks a worker. The
  first process to open a new file creates its tables under a file lock, so two
  workers started together do not both create them.
- **PostgreSQL** (``postgresql://user:password@host/db``) for workers on several
  machines; connections are checked before use, and opening retries a few times, since
  workers starting together may race to create the tables.

With ``heartbeat`` seconds, each running trial records a heartbeat; a trial whose
worker stops beating for three heartbeats (killed, or its machine gone) is marked
failed by the next worker that looks, and queued again once with the same parameters.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maml_studio.inputs import one_line
from maml_studio.sweep_space import SweepError

INSTALL_HINT = "pip install 'maml-studio[sweep]'"
SQLITE_NAME = "sweeps.db"
BUSY_TIMEOUT = 60.0  # seconds a SQLite writer waits for another's transaction to end
OPEN_ATTEMPTS = 5
RETRIES_OF_A_VANISHED_TRIAL = 1
GRACE_HEARTBEATS = 3  # a trial is stale after this many heartbeats are missed


def require_optuna():
    """The optuna module, quietened; a `SweepError` saying how to install it when absent."""
    try:
        import optuna
    except ImportError:
        raise SweepError(f"sweeps need Optuna, which is not installed: {INSTALL_HINT}") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.logging.disable_default_handler()
    logging.getLogger("optuna").addHandler(logging.NullHandler())
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module="optuna")
    return optuna


def default_storage_url(workspace: str | Path) -> str:
    """The SQLite file in a workspace that sweeps use when no ``--storage`` is given."""
    return f"sqlite:///{(Path(workspace).expanduser().resolve() / SQLITE_NAME).as_posix()}"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///PATH`` URL (None for other databases and in-memory SQLite)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def shown_url(url: str) -> str:
    """The URL with any password hidden, for messages and records."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy reads: shown as given, which hides nothing it has
        return one_line(url)


def without_password(url: str) -> str:
    """The URL with its password left out (libpq then reads it from ~/.pgpass or PGPASSWORD)."""
    try:
        from sqlalchemy.engine import URL, make_url

        parsed = make_url(url)
    except Exception:
        return url
    if parsed.password is None:
        return url
    bare = URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port,
                      parsed.database, parsed.query)
    return bare.render_as_string(hide_password=False)


def open_storage(url: str, *, heartbeat: int | None = None, writing: bool = True):
    """Optuna's RDBStorage at ``url``, set up for several processes (see the module).

    ``writing=False`` opens for reading only (the window): a SQLite file that does not
    exist is not created (`SweepError`), and reads take no write lock.
    """
    optuna = require_optuna()
    path = sqlite_file(url)
    if path is not None and not writing and not path.is_file():
        raise SweepError(f"no study storage at {path}")
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"cannot create the folder of {path}: "
                             f"{one_line(exc.strerror or str(exc))}") from None
    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(url)}
    if heartbeat is not None:
        kwargs.update(heartbeat_interval=heartbeat, grace_period=GRACE_HEARTBEATS * heartbeat,
                      **{_stale_argument(optuna): _retry_callback(optuna)})
    last: Exception | None = None
    for attempt in range(OPEN_ATTEMPTS if writing else 1):  # a reader says at once what is wrong
        try:
            with storage_lock(path if writing else None):
                if path is not None and writing:
                    _use_wal(path)
                storage = optuna.storages.RDBStorage(_with_driver(url), **kwargs)
        except ImportError as exc:  # the database's driver
            raise SweepError(f"cannot open {shown_url(url)}: its database driver is missing "
                             f"({one_line(str(exc.__cause__ or exc))}); {INSTALL_HINT}") from None
        except (ValueError, TypeError) as exc:  # a URL SQLAlchemy cannot parse
            raise SweepError(f"cannot open the storage {shown_url(url)}: {one_line(str(exc))}") from None
        except Exception as exc:  # the database refused or was busy: try again a few times
            last = exc
            time.sleep(0.2 + random.random() * (attempt + 1))
            continue
        if path is not None and writing:
            _serialise_writers(storage.engine)
        return storage
    detail = one_line(str(getattr(last, "orig", None) or last))[:300]
    raise SweepError(f"cannot open the study storage {shown_url(url)}: {detail}")


def _with_driver(url: str) -> str:
    """``postgresql://…`` opened with psycopg 3, the driver the sweep extra installs (which
    driver SQLAlchemy takes for a bare ``postgresql://`` depends on its version)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare):]
    return url


def _engine_kwargs(url: str) -> dict[str, Any]:
    if sqlite_file(url) is not None:
        return {"connect_args": {"timeout": BUSY_TIMEOUT}}
    if url.startswith("postgres"):
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}
    if url.startswith("mysql"):
        return {"pool_pre_ping": True}
    return {}


def _stale_argument(optuna) -> str:
    """Optuna 4.9 renamed ``failed_trial_callback``; take whichever this version has."""
    import inspect

    parameters = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
    return "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in parameters \
        else "failed_trial_callback"


def _retry_callback(optuna):
    callback = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or \
        optuna.storages.RetryFailedTrialCallback
    return callback(max_retry=RETRIES_OF_A_VANISHED_TRIAL)


@contextlib.contextmanager
def storage_lock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on ``PATH.lock`` while a SQLite file is opened (and maybe created)."""
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: opening retries instead
        yield
        return
    lock = path.with_name(path.name + ".lock")
    try:
        handle = open(lock, "a")  # noqa: SIM115 (held for the duration of the block)
    except OSError as exc:
        raise SweepError(f"cannot write beside {path}: {one_line(exc.strerror or str(exc))}") from None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield
    finally:
        handle.close()  # releases the lock


def _use_wal(path: Path) -> None:
    """Write-ahead logging, kept by the file: readers never block a writer, nor it them."""
    connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    try:
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        if mode.lower() != "wal":
            connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()


def _serialise_writers(engine) -> None:
    """Every transaction of this engine takes SQLite's write lock when it begins.

    pysqlite otherwise begins a deferred transaction that reads under a shared lock and
    fails at once, without waiting, if another process took the write lock meanwhile.
    """
    from sqlalchemy import event

    def on_connect(dbapi_connection, record) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" below says BEGIN itself

    def on_begin(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)
    engine.dispose()  # connections made before the listeners are closed, new ones get them


def worker_name() -> str:
    """This process, as the study records which worker ran a trial: ``host:pid``."""
    import socket

    return f"{socket.gethostname()}:{os.getpid()}"
