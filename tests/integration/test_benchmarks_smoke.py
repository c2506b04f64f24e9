"""Every benchmark's smallest run (``--smoke``) on a fresh copy of the checkout, which has
no ``benchmarks/results`` folder: each must finish and write its JSON there (issue 24
item 8: ``faults.py`` measured for minutes, then crashed writing into a folder that a
fresh clone does not have).

Those that start brokers and workers run in three lanes at once, since most of their
time is waiting (group joins, staleness windows); the quick ones in a fourth.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: benchmark -> the file it writes under benchmarks/results
QUICK = {
    "decode": "decode.json",
    "insert_encode": "insert_encode.json",
    "insert_fixed_cost": "insert_fixed_cost.json",
    "state_memory": "state_memory.json",
    "power_wave": "power_wave.json",
    "store_server": "store_server.json",
    "gateway_http": "gateway_http.json",
    "rack_memory": "rack_memory.json",
    "power_eval": "power_eval.json",
    "gpu_path": "gpu_path.json",
    "energy_campus": "energy_campus.json",
}
#: lanes of benchmarks that start a broker and workers, run at once (about a minute each:
#: mostly waiting, so they share two cores well)
LANES = (
    {
        "latency_moving": "latency_moving.json",
        "shard_latency": "shard_latency.json",
        "drain_budget": "drain_budget.json",
    },
    {"peers": "peers.json", "bench_notify": "notify.json", "campus_shards": "campus_shards.json"},
    {"throughput": "throughput.json", "faults": "faults.json", "gateway": "gateway.json"},
)
#: runnable files that are no benchmark of their own
NOT_BENCHMARKS = {
    "profile_summary": "a tool: summarises a py-spy profile, writes nothing",
    "peer_plain": "run by peers.py",
    "peer_quix": "run by peers.py",
}


def runnable() -> set[str]:
    return {
        path.stem
        for path in (ROOT / "benchmarks").glob("*.py")
        if '__name__ == "__main__"' in path.read_text()
    }


def test_every_runnable_benchmark_is_smoked_here() -> None:
    smoked = set(QUICK) | {name for lane in LANES for name in lane}
    assert runnable() == smoked | set(NOT_BENCHMARKS)


def test_benchmarks_write_through_the_one_helper() -> None:
    """Nothing writes under results/ but bench_output.write_json (which creates it)."""
    for path in (ROOT / "benchmarks").glob("*.py"):
        if path.name == "bench_output.py":
            continue
        text = path.read_text()
        assert not re.search(
            r"[\"']results[\"']|benchmarks/results/\w", text.split('"""', 2)[-1]
        ), f"{path.name} names the results folder itself: use bench_output.result_path"


@pytest.fixture(scope="module")
def fresh_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout copied without benchmarks/results (nor .git, venvs, caches)."""
    tree = tmp_path_factory.mktemp("checkout") / "megawatch"
    skip = shutil.ignore_patterns(
        ".git", ".venv*", "__pycache__", "*.egg-info", ".test-artifacts", ".mypy_cache"
    )

    def ignore(folder: str, names: list[str]) -> set[str]:
        dropped = set(skip(folder, names))
        if Path(folder) == ROOT / "benchmarks":
            dropped.add("results")
        return dropped

    shutil.copytree(ROOT, tree, symlinks=True, ignore=ignore)
    assert not (tree / "benchmarks" / "results").exists()
    return tree


def smoke(tree: Path, name: str) -> tuple[str, int, str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGAWATCH_")}
    env["PYTHONPATH"] = str(tree)  # the copy's pipeline, not the checkout's
    started = time.monotonic()
    run = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", "--smoke"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    return name, run.returncode, (run.stdout + run.stderr)[-3000:], time.monotonic() - started


def written(tree: Path, file: str) -> object:
    return json.loads((tree / "benchmarks" / "results" / file).read_text())


def test_each_benchmark_writes_its_results_on_a_fresh_tree(fresh_tree: Path) -> None:
    lanes = (*LANES, QUICK)
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = [
            pool.submit(lambda lane=lane: [smoke(fresh_tree, n) for n in lane]) for lane in lanes
        ]
        results = [run for future in futures for run in future.result()]
    for name, code, out, _ in results:
        assert code == 0, f"{name}:\n{out}"
    for lane in lanes:
        for name, file in lane.items():
            assert written(fresh_tree, file), name
