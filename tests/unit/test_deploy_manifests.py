"""The deployment files (deploy/compose, deploy/k8s) stay consistent with the code.

Docker and Kubernetes are not available here, so these tests check the files statically: every
``command:`` of a detector container names a subcommand the ``detector`` CLI really has (read from
``detector.cli`` at test time), the shared settings use the variable names the code reads, and the Kafka
version of the compose image matches the one ``deploy/local`` resolves from Maven.

The command check needs no YAML library (the commands are JSON-style flow lists); the structural checks use
PyYAML when it is installed.
"""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPOSE_DIR = REPO / "deploy" / "compose"
K8S_DIR = REPO / "deploy" / "k8s"
MANIFESTS = sorted([*COMPOSE_DIR.glob("*.y*ml"), *K8S_DIR.glob("*.y*ml")])
DETECTOR_IMAGE = "extraction-detector"
SERVICE_SUBCOMMANDS = {"worker", "notify", "enforce"}


def _cli_subcommands() -> set[str]:
    """Subcommands ``detector --help`` lists, read from the Typer (or Click) app ``detector.cli.app``.

    Duck-typed: recent Typer vendors its own Click, so its groups are not ``click.Group`` instances.
    """
    cli = importlib.import_module("detector.cli")
    app = getattr(cli, "app", None)
    assert app is not None, "detector.cli has no `app` (the Typer app behind the `detector` command)"
    group = app
    if not hasattr(app, "commands"):
        import typer

        group = typer.main.get_command(app)
    commands = getattr(group, "commands", None)
    assert isinstance(commands, dict) and commands, f"detector.cli.app has no subcommands ({group!r})"
    return {name for name, cmd in commands.items() if not getattr(cmd, "hidden", False)}


def _flow_commands(path: Path) -> list[list[str]]:
    """Every ``command: [...]`` flow list in a YAML file, parsed as JSON (no YAML library needed)."""
    found = []
    for m in re.finditer(r"^\s*command:\s*(\[[^\]]*\])", path.read_text(), flags=re.M | re.S):
        found.append(json.loads(m.group(1)))
    return found


def test_manifests_exist() -> None:
    names = {p.relative_to(REPO).as_posix() for p in MANIFESTS}
    assert "deploy/compose/docker-compose.yml" in names
    assert len([n for n in names if n.startswith("deploy/k8s/")]) >= 3
    assert (COMPOSE_DIR / "Dockerfile").is_file()


def test_every_detector_command_is_a_cli_subcommand() -> None:
    subcommands = _cli_subcommands()
    used: dict[str, set[str]] = {"compose": set(), "k8s": set()}
    for path in MANIFESTS:
        for cmd in _flow_commands(path):
            if not cmd or cmd[0] != "detector":
                continue
            assert len(cmd) >= 2, f"{path.name}: bare `detector` command {cmd}"
            assert cmd[1] in subcommands, (
                f"{path.relative_to(REPO)}: `detector {cmd[1]}` is not a subcommand of the CLI "
                f"(detector --help lists: {', '.join(sorted(subcommands))})"
            )
            used["compose" if path.parent == COMPOSE_DIR else "k8s"].add(cmd[1])
    for where, names in used.items():
        assert SERVICE_SUBCOMMANDS <= names, f"{where} runs {sorted(names)}, expected {sorted(SERVICE_SUBCOMMANDS)}"


def test_compose_kafka_matches_local_pom() -> None:
    pom = (REPO / "deploy" / "local" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom)
    assert version, "kafka.version missing from deploy/local/kafka/pom.xml"
    compose = (COMPOSE_DIR / "docker-compose.yml").read_text()
    assert f"image: apache/kafka:{version.group(1)}" in compose


# ------------------------------------------------------------------ structural checks (PyYAML)


def _yaml():  # type: ignore[no-untyped-def]
    return pytest.importorskip("yaml", reason="PyYAML not installed: structural manifest checks need it (dev extra)")


def _docs(path: Path) -> list[dict]:
    yaml = _yaml()
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_manifest_parses(path: Path) -> None:
    docs = _docs(path)
    assert docs, f"{path} is empty"
    for doc in docs:
        assert isinstance(doc, dict)


def _k8s_objects() -> list[dict]:
    return [d for p in K8S_DIR.glob("*.y*ml") for d in _docs(p)]


def _containers(obj: dict) -> list[dict]:
    return obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])


def test_k8s_objects_are_well_formed() -> None:
    objs = _k8s_objects()
    for o in objs:
        assert {"apiVersion", "kind", "metadata"} <= o.keys(), o
        assert o["metadata"].get("name"), o
    kinds = {o["kind"] for o in objs}
    assert {"Deployment", "ConfigMap", "Secret", "Service"} <= kinds
    deployments = {o["metadata"]["name"]: o for o in objs if o["kind"] == "Deployment"}
    for d in deployments.values():
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), f"{d['metadata']['name']}: selector does not match pod labels"
    workers = [d for d in deployments.values() if any(c.get("command", [None, None])[1:2] == ["worker"]
                                                      for c in _containers(d))]
    assert workers and workers[0]["spec"]["replicas"] >= 2


def test_k8s_settings_use_the_variable_names_the_code_reads() -> None:
    objs = _k8s_objects()
    config = next(o for o in objs if o["kind"] == "ConfigMap")
    assert {"DETECTOR_KAFKA_BOOTSTRAP", "DETECTOR_PARTITIONS"} <= config["data"].keys()
    assert all(isinstance(v, str) for v in config["data"].values()), "ConfigMap values must be strings"
    secret = next(o for o in objs if o["kind"] == "Secret")
    secret_keys = set((secret.get("stringData") or secret.get("data") or {}).keys())
    for d in (o for o in objs if o["kind"] == "Deployment"):
        for c in _containers(d):
            if not c["image"].startswith(DETECTOR_IMAGE):
                continue
            env = {e["name"]: e for e in c.get("env", [])}
            assert "DETECTOR_REDIS_URL" in env, f"{d['metadata']['name']}: no DETECTOR_REDIS_URL"
            refs = [e["valueFrom"]["secretKeyRef"] for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
            for ref in refs:
                assert ref["name"] == secret["metadata"]["name"] and ref["key"] in secret_keys
            if c["command"][1] == "notify":
                assert "SLACK_WEBHOOK_URL_FILE" in env, "the notifier reads the webhook from a mounted Secret file"
    services = [o for o in objs if o["kind"] == "Service"]
    assert any(p["port"] == 9108 for s in services for p in s["spec"]["ports"]), "no Service on 9108 (metrics/health)"


def test_compose_services() -> None:
    (compose,) = _docs(COMPOSE_DIR / "docker-compose.yml")
    services = compose["services"]
    assert {"kafka", "redis", "worker", "notifier", "enforcer"} <= services.keys()
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("worker", "notifier", "enforcer"):
        svc = services[name]
        assert svc["build"]["dockerfile"] == "deploy/compose/Dockerfile"
        assert (REPO / svc["build"]["dockerfile"]).is_file()
        assert svc["command"][0] == "detector"
        env = svc["environment"]
        assert {"DETECTOR_KAFKA_BOOTSTRAP", "DETECTOR_REDIS_URL", "DETECTOR_PARTITIONS"} <= env.keys()
        assert "@" not in env["DETECTOR_REDIS_URL"] and env["DETECTOR_REDIS_PASSWORD"]   # no secret in the URL
    assert "SLACK_WEBHOOK_URL_FILE" in services["notifier"]["environment"]
