"""A Faust worker with a changelog-backed counter table (run by test_faust_table_recovery).

    python faust_table_app.py BOOTSTRAP STATE_DIR TARGET [--no-fix]

Counts ``increments`` (key: bytes id, value: JSON int) into the table ``counts``, stored
in memory only, so that every start rebuilds the table from its changelog topic. Writes
``STATE_DIR/recovered.json`` once recovery completes (the table as recovered, before any
new event) and ``STATE_DIR/done.json`` once the counts sum to TARGET. SIGTERM stops it
cleanly. ``--no-fix`` runs plain Faust behaviour (``embedded_broker=False``) on the same
broker, to show what the Tansu end-offset fix is for.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

APP_ID = "mw-recovery-test"
INPUT_TOPIC = "increments"
PARTITIONS = 4


def write_json(path: Path, data: Any) -> None:
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(data, sort_keys=True))
    os.replace(temp, path)


def build_app(bootstrap: str, state_dir: Path, target: int, fix: bool) -> Any:
    from pipeline.kafka.endpoint import KafkaEndpoint, faust_options
    from pipeline.kafka.tansu import MegawatchApp
    from pipeline.settings import load_settings

    endpoint = KafkaEndpoint(bootstrap, embedded=True)
    app = MegawatchApp(
        APP_ID,
        embedded_broker=fix,
        **faust_options(load_settings(data_dir=state_dir), endpoint),
        store="memory://",
        topic_partitions=PARTITIONS,
        web_enabled=False,
        datadir=str(state_dir / "faust"),
    )
    increments = app.topic(INPUT_TOPIC, key_serializer="raw", value_serializer="json")
    counts = app.Table("counts", default=int, partitions=PARTITIONS)

    @app.task
    async def report_recovered() -> None:
        await app.tables.recovery.completed.wait()
        write_json(state_dir / "recovered.json", dict(counts.items()))

    @app.agent(increments)
    async def count(stream: Any) -> None:
        async for key, value in stream.items():
            counts[key.decode()] += int(value)
            if sum(counts.values()) == target:
                write_json(state_dir / "done.json", dict(counts.items()))

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("target", type=int)
    parser.add_argument("--no-fix", action="store_true")
    args = parser.parse_args()
    from faust.worker import Worker

    app = build_app(args.bootstrap, args.state_dir, args.target, fix=not args.no_fix)
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
