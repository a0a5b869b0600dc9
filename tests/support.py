"""Test helpers that drive real processes: a worker, its HTTP query endpoint, producers."""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kafka import KafkaProducer

from pipeline.journeys.identity import anchor_key
from pipeline.journeys.pipeline import Resolve, encode_envelope
from pipeline.settings import ClickHouseServer, ClickHouseTarget
from pipeline.subprocesses import clean_env, stop_process
from schemas.touchpoint import Touchpoint

REPO = Path(__file__).resolve().parents[1]
#: Worker settings of the fault tests: small batches (many in flight), a short group
#: session so a killed worker's partitions move on quickly, and idle partitions that
#: close their sessions (and so store their last touchpoints, history here) within seconds.
FAULT_SETTINGS = {
    "JOURNEYS_SINK_BATCH_SIZE": "100",
    "JOURNEYS_SINK_BATCH_SECONDS": "0.2",
    "KAFKA_SESSION_TIMEOUT": "10",
    "JOURNEYS_SESSIONS_IDLE_AFTER": "2",
    "JOURNEYS_SESSIONS_IDLE_RATE": "3600",
}
#: Event time of the first of `page_views`.
PAGE_VIEWS_START = datetime(2026, 3, 1, tzinfo=UTC)


def clickhouse_url(target: ClickHouseTarget) -> str:
    """A CLICKHOUSE_URL for `target` (a server), password included."""
    assert isinstance(target, ClickHouseServer)
    scheme = "https" if target.secure else "http"
    password = quote(target.password.get_secret_value(), safe="")
    user = quote(target.username, safe="")
    return f"{scheme}://{user}:{password}@{target.host}:{target.port}/{target.database}"


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    """Call `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class WorkerProcess:
    """`journeys worker` as a real child process, stopped for sure by `stop()`."""

    def __init__(
        self,
        env: Mapping[str, str],
        web_port: int,
        log_path: Path,
        command: Sequence[str] = ("-m", "pipeline", "worker"),
    ) -> None:
        self.env = dict(env)
        self.command = list(command)
        self.web_port = web_port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped = False

    def start(self, timeout: float = 90) -> WorkerProcess:
        self.stopped = False
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, *self.command],
                env=self.env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_until(self._ready, timeout, f"the worker to answer (log: {self.log_path})")
        return self

    def _ready(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
            )
        try:
            return self.query("SELECT 1") == [{"1": 1}]
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def query(self, sql: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows of a read-only query (`params` bind its `{name:Type}` placeholders):
        through the worker's /query/ endpoint, or once `stop()` or `kill()` ended it,
        through `journeys query` (its store opened directly, as a user would)."""
        if self.stopped:
            return self._query_stopped(sql, params or {})
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.web_port}/query/",
            data=json.dumps({"sql": sql, "params": dict(params or {})}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer = json.loads(response.read())
        return [dict(zip(answer["columns"], row, strict=True)) for row in answer["rows"]]

    def _query_stopped(self, sql: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
        bound = [part for name, value in params.items() for part in ("-p", f"{name}={value}")]
        run = subprocess.run(
            [sys.executable, "-m", "pipeline", "query", sql, "--format", "json", *bound],
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, f"journeys query failed:\n{run.stderr}"
        return [json.loads(line) for line in run.stdout.splitlines()]

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; returns the exit code."""
        if self.process is None:
            return None
        code = stop_process(self.process, timeout)
        self.process = None
        self.stopped = True
        return code

    @property
    def pid(self) -> int:
        assert self.process is not None, "not running"
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: a crash, no shutdown work at all."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
            self.stopped = True

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return "(no log)"


def processed(worker: WorkerProcess) -> int:
    """Input records accounted for: distinct touchpoints plus distinct dead letters."""
    row = worker.query(
        "SELECT (SELECT uniqExact(event_id) FROM touchpoints) AS t,"
        " (SELECT uniqExact(source_topic, source_partition, source_offset) FROM dead_letters)"
        " AS d"
    )[0]
    return int(row["t"]) + int(row["d"])


def produce(
    bootstrap_servers: str,
    topic: str,
    records: Iterable[tuple[bytes | None, bytes, list[tuple[str, bytes]]]],
) -> int:
    """Send (key, value, headers) records and wait until the broker has them all."""
    producer = KafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    count = 0
    try:
        for key, value, headers in records:
            producer.send(topic, key=key, value=value, headers=headers)
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return count


def send_touchpoints(
    bootstrap_servers: str, prefix: str, touchpoints: Iterable[Touchpoint], key: bytes | None = None
) -> int:
    """Canonical touchpoints straight into the pipeline (past the normaliser), as the
    envelopes partitions send each other; keyed by `key`, else by their anchor's value."""

    def keyed(t: Touchpoint) -> bytes:
        anchor = anchor_key(t.identities) or f"event:{t.event_id}"
        return key or anchor.partition(":")[2].encode()

    return produce(
        bootstrap_servers,
        f"{prefix}journeys.internal",
        ((keyed(t), encode_envelope([Resolve(touchpoint=t)]), []) for t in touchpoints),
    )


def base_env(**overrides: str) -> dict[str, str]:
    """This process's environment without Journeys' own variables, plus `overrides`."""
    return clean_env(**{"JOURNEYS_LOCAL_CACHE_DIR": str(REPO / ".cache"), **overrides})


def consume_all(
    bootstrap_servers: str, topic: str, expected: int, timeout: float = 60, settle: float = 3
) -> list[Any]:
    """Read `topic` from the start until `expected` records arrived and `settle` s pass
    without more (so that a surplus shows up too); returns the records."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batches = consumer.poll(timeout_ms=500)
            fresh = [record for batch in batches.values() for record in batch]
            records.extend(fresh)
            if fresh:
                quiet_since = time.monotonic()
            elif len(records) >= expected and time.monotonic() - quiet_since >= settle:
                break
    finally:
        consumer.close()
    return records


def page_views(first: int, count: int, customers: int = 50) -> Iterator[tuple[bytes, bytes, list]]:
    """Valid raw web events, one a second of event time, over `customers` visitors."""
    for n in range(first, first + count):
        visitor = f"c-{n % customers}"
        event = {
            "messageId": f"m-{n}",
            "type": "page",
            "anonymousId": visitor,
            "timestamp": (PAGE_VIEWS_START + timedelta(seconds=n)).isoformat(),
            "context": {"page": {"url": f"https://shop.example/p/{n % 97}"}},
        }
        yield visitor.encode(), json.dumps(event).encode(), []


def stored(worker: WorkerProcess) -> dict[str, int]:
    """Rows as stored (no FINAL), distinct event ids, and what analysts see."""
    row = worker.query(
        "SELECT (SELECT count() FROM touchpoints) AS rows,"
        " (SELECT uniqExact(event_id) FROM touchpoints) AS ids,"
        " (SELECT count() FROM v_touchpoints) AS visible"
    )[0]
    return {key: int(value) for key, value in row.items()}


class WebhookReceiver:
    """A local HTTP endpoint that records the JSON body of every POST (a webhook's
    receiver: Slack, Alertmanager, ...). Use as a context manager; `url` to post to."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []
        received = self.bodies

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                received.append(json.loads(self.rfile.read(length) or b"null"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def metrics(worker: WorkerProcess) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics, parsed: per metric family, each sample's value by its labels (sorted
    pairs); a family declared without samples yet maps to {}. Counter samples are the
    `_total` ones."""
    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://127.0.0.1:{worker.web_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    families: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            labels = tuple(sorted(sample.labels.items()))
            if sample.name != family.name and not sample.name.endswith("_total"):
                labels = (("sample", sample.name.removeprefix(family.name)), *labels)
            samples[labels] = sample.value
    return families


def health(worker: WorkerProcess, path: str) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of GET `path` on the worker."""
    url = f"http://127.0.0.1:{worker.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())
