"""The pipeline's own health in a real Prometheus: Debian's Prometheus scrapes a real
worker's /metrics and evaluates the project's rule file (deploy/prometheus/rules, its
`for:` durations shortened so the test takes seconds, the expressions as shipped); the
worker is SIGKILLed, MegawatchWorkerDown fires in Prometheus and arrives at Debian's
real Alertmanager."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alertmanager import SKIP_REASON as NO_ALERTMANAGER
from alertmanager import binary as alertmanager_binary
from alertmanager import running_alertmanager
from prometheus_server import PROMETHEUS, SKIP_REASON, binary, running_prometheus
from worker_harness import WorkerProcess, wait_for

from pipeline.broker.process import EmbeddedBroker

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(binary(PROMETHEUS) is None, reason=SKIP_REASON),
    pytest.mark.skipif(alertmanager_binary() is None, reason=NO_ALERTMANAGER),
]

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    with EmbeddedBroker(tmp_path / "data"):
        proc = WorkerProcess(tmp_path / "data").start()
        try:
            yield proc
        finally:
            proc.stop()


def shortened_rules(workdir: Path) -> list[str]:
    """The project's rule files with every `for:` at 2 s."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = []
    for path in sorted(RULES.glob("*.rules.yml")):
        text = re.sub(r"\bfor: \d+[smh]\b", "for: 2s", path.read_text())
        (workdir / path.name).write_text(text)
        out.append(str(workdir / path.name))
    return out


def firing(alerts: list[dict[str, Any]], instance: str) -> bool:
    return any(
        a["labels"].get("alertname") == "MegawatchWorkerDown"
        and a["labels"].get("instance") == instance
        and a.get("state", "firing") == "firing"
        for a in alerts
    )


def test_a_killed_worker_fires_worker_down_into_alertmanager(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    instance = f"127.0.0.1:{worker.port}"
    with running_alertmanager(tmp_path / "am") as am:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": shortened_rules(tmp_path / "rules"),
            "alerting": {
                "alertmanagers": [{"static_configs": [{"targets": [am.url.split("//")[1]]}]}]
            },
            "scrape_configs": [
                {"job_name": "megawatch-worker", "static_configs": [{"targets": [instance]}]}
            ],
        }
        with running_prometheus(tmp_path / "prom", config) as prom:
            wait_for(
                lambda: prom.query('up{job="megawatch-worker"} == 1'), 30, "the worker scraped"
            )
            # the worker's own metrics, as the rules read them
            assert prom.query('{job="megawatch-worker", __name__=~"megawatch_sink_.*"}') != []
            assert not firing(prom.alerts(), instance)
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGKILL)
            worker.proc.wait(10)
            wait_for(lambda: firing(prom.alerts(), instance), 30, "MegawatchWorkerDown firing")
            received = wait_for(
                lambda: [a for a in am.alerts() if firing([a], instance)],
                30,
                "the alert at Alertmanager",
            )
    [alert] = received
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == f"worker {instance} does not answer /metrics"
