"""A real Apache Kafka broker (KRaft, one combined node) on 127.0.0.1, without Docker.

The official broker jars come from Maven Central (see `pom.xml` beside this file), are
resolved once into a cache folder, and run with the machine's Java 17+.

Usage:
    with LocalKafka(data_dir) as kafka:        # foreground: stopped on exit, for sure
        produce_to(kafka.bootstrap_servers)

    broker = LocalKafka(data_dir, detached=True).start()   # `journeys kafka start`
    stop_recorded_broker(data_dir)                          # `journeys kafka stop`
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from pipeline.errors import LocalStackError, MissingToolError
from pipeline.subprocesses import die_with_parent

log = logging.getLogger(__name__)

POM = Path(__file__).with_name("pom.xml")
MIN_JAVA = 17
STATE_FILE = "broker.json"
_INSTEAD = "or set KAFKA_BOOTSTRAP_SERVERS to a broker you already run."


# ── tools ────────────────────────────────────────────────────────────────────────────


def java_executable() -> str:
    """The `java` to run: $JAVA_HOME/bin/java, else the one on PATH, checked to be 17+."""
    home = os.environ.get("JAVA_HOME")
    candidate = str(Path(home) / "bin" / "java") if home else None
    java = candidate if candidate and Path(candidate).is_file() else shutil.which("java")
    if java is None:
        raise MissingToolError(
            f"Java {MIN_JAVA}+ is needed to run the local Kafka broker, and no `java` was found "
            "on PATH or in JAVA_HOME. Install a JDK or JRE "
            f"(Debian/Ubuntu: apt-get install openjdk-{MIN_JAVA}-jre-headless), {_INSTEAD}"
        )
    version = java_major_version(java)
    if version < MIN_JAVA:
        raise MissingToolError(
            f"{java} is Java {version}; the Kafka 4 broker needs Java {MIN_JAVA}+. Install a "
            f"newer JDK and put it first on PATH (or set JAVA_HOME), {_INSTEAD}"
        )
    return java


def java_major_version(java: str) -> int:
    """Major version of a `java` executable (8 for 1.8.0_x, 17 for 17.0.x)."""
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as error:
        raise MissingToolError(f"cannot run {java}: {error}. {_INSTEAD}") from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise MissingToolError(f"cannot tell the version of {java}: {out.stderr.strip()[:200]}")
    major, minor = int(match[1]), int(match[2] or 0)
    return minor if major == 1 else major


def resolve_jars(cache_dir: Path) -> Path:
    """The folder of broker jars, resolved with Maven into `cache_dir` on first use."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    jars = cache_dir.resolve() / f"kafka-jars-{digest}"
    done = jars / ".complete"
    if done.exists():
        return jars
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One resolution at a time (test processes in parallel, two brokers starting at once).
    with (cache_dir / "kafka-jars.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            _download_jars(jars)
    return jars


def _download_jars(jars: Path) -> None:
    """Resolve the broker jars into `jars` with Maven, through a partial folder."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingToolError(
            "Maven is needed once to download the Kafka broker jars from Maven Central, and "
            "no `mvn` is on PATH. Install it (Debian/Ubuntu: apt-get install maven), " + _INSTEAD
        )
    partial = jars.with_name(jars.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    log.info("resolving the Kafka broker jars into %s (once)", jars)
    command = [
        mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
        f"-DoutputDirectory={partial}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip()[-2000:]
        raise LocalStackError(f"Maven could not resolve the Kafka jars:\n{tail}")
    shutil.rmtree(jars, ignore_errors=True)
    partial.rename(jars)
    (jars / ".complete").touch()


#: First starts of a broker whose ports another process took first, before giving up.
PORT_ATTEMPTS = 3


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


# ── the broker ───────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class BrokerState:
    """What `journeys kafka status` reports; written to <data_dir>/broker.json."""

    pid: int
    port: int
    controller_port: int
    data_dir: str
    log_file: str

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def write(self) -> None:
        path = Path(self.data_dir) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")


class LocalKafka:
    """One KRaft broker+controller on 127.0.0.1, on free ports, data under `data_dir`."""

    def __init__(
        self,
        data_dir: Path,
        cache_dir: Path = Path(".cache"),
        heap: str = "512m",
        detached: bool = False,
        start_timeout: float = 60.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.cache_dir = cache_dir
        self.heap = heap
        self.detached = detached
        self.start_timeout = start_timeout
        self.port = 0
        self.controller_port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._log_start = 0  # where this start's lines begin in the log

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> Self:
        """Resolve jars, format storage, start the broker, wait for a metadata round trip.
        Started again after `stop()`, it serves the same data on the same ports.

        A first start picks free ports; if another process takes one of them before the
        broker binds it (two test processes starting brokers at once), it starts again
        on new ports, up to `PORT_ATTEMPTS` times."""
        if self.port:  # a restart keeps its ports: the controller quorum names them
            return self._start_on_ports()
        for attempt in range(1, PORT_ATTEMPTS + 1):
            self.port, self.controller_port = free_port(), free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()
            try:
                return self._start_on_ports()
            except LocalStackError:
                if attempt == PORT_ATTEMPTS or not self._port_taken():
                    raise
                log.warning("port %d or %d was taken before Kafka bound it; trying others",
                            self.port, self.controller_port)  # fmt: skip
                shutil.rmtree(self.data_dir / "kraft-logs", ignore_errors=True)
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _start_on_ports(self) -> Self:
        java = java_executable()
        jars = resolve_jars(self.cache_dir)
        properties = self._write_config()
        self._log_start = self.log_file.stat().st_size if self.log_file.exists() else 0
        classpath = f"{jars}/*"
        self._format_storage(java, classpath, properties)
        command = [
            java, f"-Xmx{self.heap}", f"-Xms{min_heap(self.heap)}", "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.data_dir}",
            "-cp", classpath, "kafka.Kafka", str(properties),
        ]  # fmt: skip
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we stop the broker in order
                preexec_fn=None if self.detached else die_with_parent,  # noqa: PLW1509 - only calls prctl
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(timeout=5.0)  # a broker that failed to start has nothing to save
            raise
        if self.detached:
            self.state().write()
        log.info("Kafka is up at %s (data in %s)", self.bootstrap_servers, self.data_dir)
        return self

    def state(self) -> BrokerState:
        assert self._process is not None, "start() first"
        return BrokerState(
            pid=self._process.pid,
            port=self.port,
            controller_port=self.controller_port,
            data_dir=str(self.data_dir),
            log_file=str(self.log_file),
        )

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM, wait for a clean shutdown, SIGKILL if it takes longer than `timeout`."""
        if self._process is not None:
            terminate(self._process.pid, timeout)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=5)
            self._process = None
        (self.data_dir / STATE_FILE).unlink(missing_ok=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ── internals ──

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        logs = self.data_dir / "kraft-logs"
        config = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(logs),
            # One node: every internal topic has one replica, and few partitions so that
            # the first consumer group and the first transaction start quickly.
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Tests and demos start consumers right away; don't wait 3 s for more members.
            "group.initial.rebalance.delay.ms": "0",
            "num.partitions": "1",
            "auto.create.topics.enable": "true",
        }
        properties = self.data_dir / "server.properties"
        properties.write_text("".join(f"{k}={v}\n" for k, v in config.items()))
        (self.data_dir / "log4j2.properties").write_text(LOG4J2)
        return properties

    def _format_storage(self, java: str, classpath: str, properties: Path) -> None:
        """Format KRaft storage once; a restarted broker keeps its data and cluster id."""
        if (self.data_dir / "kraft-logs" / "meta.properties").exists():
            return
        cluster_id = _kafka_cluster_id()
        result = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format",
             f"--cluster-id={cluster_id}", "-c", str(properties), "--standalone"],
            capture_output=True, text=True, check=False, timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise LocalStackError(
                f"formatting Kafka storage failed:\n{result.stdout}{result.stderr}"
            )

    def _port_taken(self) -> bool:
        """Whether this start's lines of the log say a port was already in use."""
        return self._logged(b"Address already in use")

    def _logged(self, text: bytes) -> bool:
        """Whether `text` is in the log's lines of this start."""
        if not self.log_file.exists():
            return False
        with self.log_file.open("rb") as lines:
            lines.seek(self._log_start)
            return text in lines.read()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise LocalStackError(
                    f"the Kafka broker exited with code {self._process.returncode} while "
                    f"starting; last lines of {self.log_file}:\n{tail(self.log_file)}"
                )
            if self._port_taken():
                raise LocalStackError(
                    f"port {self.port} or {self.controller_port} is in use; last lines of "
                    f"{self.log_file}:\n{tail(self.log_file)}"
                )
            # Only once this broker says it started: the port may answer for another.
            if (
                self._logged(b"Kafka Server started")
                and port_open(self.port)
                and metadata_round_trip(self.bootstrap_servers)
            ):
                return
            time.sleep(0.25)
        raise LocalStackError(
            f"the Kafka broker did not answer within {self.start_timeout:.0f} s; "
            f"last lines of {self.log_file}:\n{tail(self.log_file)}"
        )


def _kafka_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (it may start
    with "-", so it is passed as `--cluster-id=ID`, never as a separate argument)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def min_heap(heap: str) -> str:
    """Start the heap at a quarter of the maximum (at least 64 MB)."""
    units = {"k": 1 / 1024, "m": 1, "g": 1024}
    megabytes = int(heap[:-1]) * units[heap[-1]]
    return f"{max(64, int(megabytes // 4))}m"


def metadata_round_trip(bootstrap_servers: str) -> bool:
    """True once the broker answers a metadata request and lists itself as unfenced."""
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers,
            request_timeout_ms=3000,
            client_id="journeys-localstack-probe",
        )
    except (KafkaError, OSError, ValueError):
        return False
    try:
        cluster = admin.describe_cluster()
        return any(not broker.get("is_fenced", False) for broker in cluster["brokers"])
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def terminate(pid: int, timeout: float = 30.0) -> None:
    """SIGTERM a process group leader, then SIGKILL it if it is still alive after `timeout`."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    while pid_alive(pid):
        time.sleep(0.05)


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie counts as gone; it is reaped here if it is our child)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def tail(path: Path, lines: int = 25) -> str:
    """The last `lines` lines of a text file, or a note that it is missing."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"({path} does not exist)"


# ── the detached broker of `journeys kafka start|stop|status` ─────────────────────────


def recorded_broker(data_dir: Path) -> BrokerState | None:
    """The broker recorded in `data_dir` by `journeys kafka start`, if its process runs."""
    path = data_dir.resolve() / STATE_FILE
    if not path.exists():
        return None
    state = BrokerState(**json.loads(path.read_text()))
    if not pid_alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    return state


def stop_recorded_broker(data_dir: Path, timeout: float = 30.0) -> BrokerState | None:
    """Stop the detached broker recorded in `data_dir`; returns what was stopped."""
    state = recorded_broker(data_dir)
    if state is None:
        return None
    terminate(state.pid, timeout)
    deadline = time.monotonic() + 10
    while (port_open(state.port) or port_open(state.controller_port)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.1)
    (data_dir.resolve() / STATE_FILE).unlink(missing_ok=True)
    return state


LOG4J2 = """\
# Written by pipeline.localstack.kafka: the broker logs to server.log beside this file.
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRefs = out
rootLogger.appenderRef.out.ref = OUT
# "Kafka Server started" and friends, so a reader of server.log sees the life cycle (and
# LocalKafka knows the broker answering on its port is its own).
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""
