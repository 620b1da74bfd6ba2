"""The minimal Kafka ACLs of each process, from the same settings (topic names, prefix, groups).

What: :func:`grants` lists what one role needs on a broker with an authorizer (Kafka's
``StandardAuthorizer``, deny when no ACL matches); ``docs/kafka-security.md`` explains them and
``tests/integration/test_kafka_security.py`` runs the worker end to end with exactly these.

==========  ==========================================================================================
role        needs
==========  ==========================================================================================
worker      READ input, labels, profiles, keyed, summaries; WRITE keyed, summaries, alerts, decisions,
            dlq; READ its consumer group (``DETECTOR_GROUP_ID``); with ``create_topics``: CREATE on
            the eight topics (``--grant-create``; else an admin creates them first:
            ``--apply --create-topics``)
notifier    READ alerts; READ its group (``DETECTOR_NOTIFY_GROUP``)
enforcer    READ decisions (it assigns partitions itself: no group)
gateway     WRITE input (what feeds the detector: the API gateway, ``python -m detector.offline.feed``)
analyst     READ alerts (``detector watch``, ``replay --compare-live``) and input (``replay --topic``);
            WRITE labels (``detector label``) and profiles (``detector profiles publish``)
==========  ==========================================================================================

READ and WRITE imply DESCRIBE in Kafka, which topic checks and metadata need; no role needs a
cluster permission (no idempotent or transactional producer is used).

``python -m streams.kafka_acls ROLE --principal User:NAME [--grant-create] [--apply [--create-topics]]``
prints the ``kafka-acls.sh`` commands for the role with the ``DETECTOR_*`` settings of the
environment (topic prefix and names, group ids), or applies them (``--apply``), and creates the
topics first (``--create-topics``), as the user of those settings, who must be allowed to (an admin).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from streams.settings import TOPICS, Settings

ROLES = ("worker", "notifier", "enforcer", "gateway", "analyst")


@dataclass(frozen=True, slots=True)
class Grant:
    """One ALLOW ACL: ``operation`` on the ``resource`` (topic or group) called ``name`` (literal)."""

    resource: str
    name: str
    operation: str


def grants(settings: Settings, role: str, *, create_topics: bool = False) -> list[Grant]:
    """The ACLs ``role`` needs with ``settings`` (see the module docstring)."""
    t = settings.topic
    if role == "worker":
        out = [Grant("topic", t(w), "READ") for w in ("input", "labels", "profiles", "keyed", "summaries")]
        out += [Grant("topic", t(w), "WRITE") for w in ("keyed", "summaries", "alerts", "decisions", "dlq")]
        out.append(Grant("group", settings.group_id, "READ"))
        if create_topics:
            out += [Grant("topic", t(w), "CREATE") for w in TOPICS]
        return out
    if role == "notifier":
        return [Grant("topic", t("alerts"), "READ"), Grant("group", settings.notify_group, "READ")]
    if role == "enforcer":
        return [Grant("topic", t("decisions"), "READ")]
    if role == "gateway":
        return [Grant("topic", t("input"), "WRITE")]
    if role == "analyst":
        return [Grant("topic", t("alerts"), "READ"), Grant("topic", t("input"), "READ"),
                Grant("topic", t("labels"), "WRITE"), Grant("topic", t("profiles"), "WRITE")]
    raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")


def kafka_acls_commands(settings: Settings, role: str, principal: str, *, create_topics: bool = False,
                        command_config: str = "admin.properties") -> list[str]:
    """``kafka-acls.sh`` commands that add the role's ACLs for ``principal`` (``User:NAME``)."""
    out = []
    for g in grants(settings, role, create_topics=create_topics):
        out.append(shlex.join(["kafka-acls.sh", "--bootstrap-server", settings.kafka_bootstrap,
                               "--command-config", command_config, "--add", "--allow-principal", principal,
                               "--operation", g.operation.capitalize(), f"--{g.resource}", g.name]))
    return out


def acl_objects(settings: Settings, role: str, principal: str, *, create_topics: bool = False) -> list[Any]:
    """The role's ACLs as kafka-python ``ACL`` objects (for ``KafkaAdminClient.create_acls``)."""
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ResourcePattern, ResourceType

    kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
    return [ACL(principal, "*", ACLOperation[g.operation], ACLPermissionType.ALLOW,
                ResourcePattern(kinds[g.resource], g.name))
            for g in grants(settings, role, create_topics=create_topics)]


def apply(settings: Settings, role: str, principal: str, *, create_topics: bool = False) -> int:
    """Create the role's ACLs for ``principal`` with ``settings``' (admin) user; returns how many.
    Raises ``RuntimeError`` listing any the broker refused."""
    from streams import kafka_security

    admin = kafka_security.admin(settings, client_id="xd-acls", request_timeout_ms=15000)
    try:
        result = admin.create_acls(acl_objects(settings, role, principal, create_topics=create_topics))
    finally:
        admin.close()
    if result["failed"]:
        raise RuntimeError(f"the broker refused {len(result['failed'])} ACLs: {result['failed']}")
    return len(result["succeeded"])


def main(argv: list[str] | None = None) -> None:
    """Print (or apply) a role's ACLs; see the module docstring."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m streams.kafka_acls", description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=ROLES)
    ap.add_argument("--principal", required=True, help="e.g. User:detector-worker")
    ap.add_argument("--apply", action="store_true", help="create the ACLs with the DETECTOR_KAFKA_* (admin) user")
    ap.add_argument("--grant-create", action="store_true", help="worker: also CREATE on its topics")
    ap.add_argument("--create-topics", action="store_true", help="with --apply: create the topics first (as the admin)")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    if not args.apply:
        for line in kafka_acls_commands(settings, args.role, args.principal, create_topics=args.grant_create):
            print(line)
        return
    if args.create_topics:
        from streams.topics import ensure_topics

        print(f"created {len(ensure_topics(settings))} topics")
    n = apply(settings, args.role, args.principal, create_topics=args.grant_create)
    print(f"created {n} ACLs for {args.principal} ({args.role})")


if __name__ == "__main__":
    main()
