"""docker-compose.yml stays consistent with the code (CI cannot start Docker here)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import click
import yaml

from pipeline.cli import COMMANDS
from pipeline.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
MEGAWATCH = {name: s for name, s in SERVICES.items() if s.get("image", "").startswith("megawatch")}


def test_every_megawatch_variable_is_a_setting() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    used = {
        var
        for s in SERVICES.values()
        for var in (s.get("environment") or {})
        if var.startswith(ENV_PREFIX)
    }
    assert used, "the compose file sets no MEGAWATCH_ variable"
    assert used - known == set()


def test_settings_values_parse() -> None:
    for service in MEGAWATCH.values():
        env = {
            k.removeprefix(ENV_PREFIX).lower(): v
            for k, v in service["environment"].items()
            if k.startswith(ENV_PREFIX)
        }
        Settings(**env)  # raises on a value the worker would reject at start


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: {image}"


def test_megawatch_services_run_real_commands() -> None:
    assert {"worker", "notifier", "agent", "migrate", "sites"} <= set(MEGAWATCH)
    for name, service in MEGAWATCH.items():
        command = service.get("command") or service["entrypoint"][-1].split()[1:2]
        assert command[0] in COMMANDS, f"{name}: {command}"


def test_workers_scale_and_are_health_checked() -> None:
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale worker=3
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    for name in ("kafka", "clickhouse", "alertmanager"):
        assert "healthcheck" in SERVICES[name], name
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "HEALTHCHECK" in dockerfile and "/health" in dockerfile


def test_compose_uses_kafka_and_clickhouse_servers() -> None:
    env = SERVICES["worker"]["environment"]
    assert env["MEGAWATCH_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["MEGAWATCH_CLICKHOUSE_DSN"].startswith("http://")
    assert "KRaft" in (ROOT / "docker-compose.yml").read_text()
    assert SERVICES["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_compose_kafka_keeps_its_log_on_the_volume_under_its_own_cluster_id() -> None:
    """Issue 10 #11: the log went to /tmp in the container and the cluster id was the
    image's default: `down`/`up` restarted offsets at 0 under the same id."""
    kafka = SERVICES["kafka"]
    volume_paths = [v.split(":")[1] for v in kafka["volumes"]]
    assert kafka["environment"]["KAFKA_LOG_DIRS"] in volume_paths
    assert kafka["environment"]["CLUSTER_ID"] not in ("", "5L6g3nShT-eMCtK--X86sw")


# --- the `cluster` profile (issue 12) ------------------------------------------------
CLUSTER = {name: s for name, s in SERVICES.items() if "cluster" in (s.get("profiles") or [])}
DEPLOY = ROOT / "deploy"


def _xml(path: Path) -> ET.Element:
    return ET.parse(path).getroot()


def _cluster_env(name: str) -> dict[str, str]:
    return {k: str(v) for k, v in CLUSTER[name]["environment"].items()}


def _resolve(args: list[str]) -> click.Command:
    """The click command ``megawatch ARGS`` runs; its --options must exist."""
    from pipeline.cli import cli

    command: click.Command = cli
    ctx = click.Context(cli)
    for arg in args:
        if arg.startswith("-"):
            opts = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
            assert arg.split("=")[0] in opts, f"megawatch {' '.join(args)}: no option {arg}"
        elif isinstance(command, click.Group):
            sub = command.get_command(ctx, arg)
            assert sub is not None, f"megawatch {' '.join(args)}: no command {arg}"
            command = sub
    return command


def test_default_stack_has_no_profile_and_cluster_is_complete() -> None:
    for name in ("kafka", "clickhouse", "worker", "notifier", "migrate", "alertmanager"):
        assert "profiles" not in SERVICES[name], name  # `docker compose up` unchanged
    brokers = [n for n in CLUSTER if n.startswith("kafka-")]
    keepers = [n for n in CLUSTER if n.startswith("keeper-")]
    nodes = [n for n in CLUSTER if n.startswith("ch-")]
    assert (len(brokers), len(keepers), len(nodes)) == (3, 3, 4)
    assert CLUSTER["cluster-worker"]["deploy"]["replicas"] == 3
    assert {"cluster-migrate", "cluster-notifier"} <= set(CLUSTER)
    for name in ("prometheus", "alertmanager"):
        assert name in SERVICES  # shared with the default stack
    for name, service in CLUSTER.items():  # nothing of the default stack but Alertmanager
        needs = set(service.get("depends_on") or {}) - {"alertmanager"}
        assert needs <= set(CLUSTER), f"{name} depends on {needs - set(CLUSTER)}"


def test_cluster_commands_and_settings_exist() -> None:
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    for name, service in CLUSTER.items():
        if not service.get("image", "").startswith("megawatch"):
            continue
        env = _cluster_env(name)
        assert {k for k in env if k.startswith(ENV_PREFIX)} - known == set(), name
        Settings(**{k.removeprefix(ENV_PREFIX).lower(): v for k, v in env.items()})
        if service.get("command"):
            _resolve(list(service["command"]))
        else:  # sh -c "megawatch a ... && megawatch b ..."
            for part in service["entrypoint"][-1].split("&&"):
                words = part.split(">")[0].split()
                assert words[0] == "megawatch", name
                _resolve(words[1:])


def test_cluster_workers_never_migrate_and_the_job_migrates_the_cluster() -> None:
    cluster_name = _cluster_env("cluster-migrate")["MEGAWATCH_CLICKHOUSE_CLUSTER"]
    assert CLUSTER["cluster-migrate"]["command"] == ["db", "migrate", "--cluster", cluster_name]
    worker = CLUSTER["cluster-worker"]
    assert _cluster_env("cluster-worker")["MEGAWATCH_AUTO_MIGRATE"] == "false"
    assert worker["depends_on"]["cluster-migrate"]["condition"] == "service_completed_successfully"
    assert _cluster_env("cluster-worker")["MEGAWATCH_WEB_HOST"] == "0.0.0.0"
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    scraped = {
        name
        for job in prometheus["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    assert {"cluster-worker", "cluster-notifier"} <= scraped


def test_kafka_cluster_replication_fits_the_brokers() -> None:
    brokers = {n: _cluster_env(n) for n in CLUSTER if n.startswith("kafka-")}
    ids = {env["KAFKA_NODE_ID"] for env in brokers.values()}
    assert len(ids) == len(brokers)
    assert len({env["CLUSTER_ID"] for env in brokers.values()}) == 1
    voters = next(iter(brokers.values()))["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) % 2 == 1 and {v.split("@")[0] for v in voters} == ids
    for env in brokers.values():
        replication = int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"])
        assert replication <= len(brokers)
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) < replication
        assert int(env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"]) < replication
        assert int(env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"]) <= len(brokers)
    for name in brokers:
        volume_paths = [v.split(":")[1] for v in CLUSTER[name]["volumes"]]
        assert _cluster_env(name)["KAFKA_LOG_DIRS"] in volume_paths, name
    workers = int(_cluster_env("cluster-worker")["MEGAWATCH_KAFKA_REPLICATION"])
    assert 1 < workers <= len(brokers)
    for host in _cluster_env("cluster-worker")["MEGAWATCH_KAFKA_BOOTSTRAP"].split(","):
        assert host.split(":")[0] in brokers


def test_keeper_quorum_is_odd_and_matches_the_services() -> None:
    keeper = _xml(DEPLOY / "keeper" / "keeper.xml")
    servers = keeper.findall("./keeper_server/raft_configuration/server")
    assert len(servers) >= 3 and len(servers) % 2 == 1
    by_id = {s.findtext("id"): s.findtext("hostname") for s in servers}
    services = {n: _cluster_env(n)["KEEPER_SERVER_ID"] for n in CLUSTER if n.startswith("keeper")}
    assert {by_id[i] for i in services.values()} == set(services)  # id <-> hostname
    used = {n.findtext("host") for n in _xml(DEPLOY / "clickhouse" / "cluster.xml").iter("node")}
    assert used == set(services)


def test_clickhouse_cluster_name_macros_and_profile() -> None:
    config = _xml(DEPLOY / "clickhouse" / "cluster.xml")
    clusters = list(config.find("remote_servers") or [])
    assert [c.tag for c in clusters] == [
        _cluster_env("cluster-worker")["MEGAWATCH_CLICKHOUSE_CLUSTER"]
    ]
    hosts = {r.findtext("host") for r in clusters[0].iter("replica")}
    nodes = {n: s for n, s in CLUSTER.items() if n.startswith("ch-")}
    assert hosts == set(nodes) and all(s["hostname"] == n for n, s in nodes.items())
    seen: set[tuple[str | None, str | None]] = set()
    for shard_no, shard in enumerate(clusters[0].findall("shard"), start=1):
        assert shard.findtext("internal_replication") == "true"
        for replica in shard.findall("replica"):
            host = replica.findtext("host")
            mounts = [v.split(":")[0] for v in nodes[str(host)]["volumes"]]
            macro_file = next(m for m in mounts if "/macros/" in m)
            macros = _xml(ROOT / macro_file).find("macros")
            assert macros is not None, macro_file
            pair = (macros.findtext("shard"), macros.findtext("replica"))
            assert pair[0] == str(shard_no), f"{host}: shard macro {pair[0]}"
            assert pair not in seen, f"{host}: macros {pair} not unique"
            seen.add(pair)
    assert len(seen) == len(nodes)
    profile = _xml(DEPLOY / "clickhouse" / "users.xml").find("./profiles/default")
    assert profile is not None
    assert profile.findtext("distributed_foreground_insert") == "1"
    assert profile.findtext("deduplicate_blocks_in_dependent_materialized_views") == "1"
    for name in nodes:
        mounts = [v.split(":")[0] for v in nodes[name]["volumes"]]
        assert (
            "./deploy/clickhouse/users.xml" in mounts
            and "./deploy/clickhouse/cluster.xml" in mounts
        )


def test_clickhouse_is_the_lts_nearest_the_embedded_engine() -> None:
    """chDB 4.4 embeds ClickHouse 26.9; LTS releases are x.3 and x.8: 26.8."""
    images = {s["image"] for n, s in SERVICES.items() if n == "clickhouse" or n.startswith("ch-")}
    assert images == {"clickhouse/clickhouse-server:26.8"}
    keepers = {s["image"] for n, s in CLUSTER.items() if n.startswith("keeper")}
    assert keepers == {"clickhouse/clickhouse-keeper:26.8"}
