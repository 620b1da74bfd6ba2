"""Kafka security settings and the one helper that turns them into client options (no broker needed).

The broker side (SASL_SSL, mutual TLS, ACLs, refusals) is in tests/integration/test_kafka_security.py.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from pathlib import Path

import pytest

from streams import kafka_acls, kafka_security
from streams.settings import Settings

SECRET = "s3cret-Pa55-for-tests"


def sasl_env(**extra: str) -> dict[str, str]:
    env = {"DETECTOR_KAFKA_BOOTSTRAP": "b1:9094, b2:9094", "DETECTOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
           "DETECTOR_KAFKA_SASL_USERNAME": "detector-worker", "DETECTOR_KAFKA_SASL_PASSWORD": SECRET}
    env.update(extra)
    return env


def test_defaults_are_plaintext_and_every_client_gets_the_same_servers() -> None:
    s = Settings.from_env({"DETECTOR_KAFKA_BOOTSTRAP": "a:1, b:2"})
    assert s.kafka_security_protocol == "PLAINTEXT" and s.kafka_check_hostname is True
    assert kafka_security.kafka_python_config(s) == {"bootstrap_servers": ["a:1", "b:2"],
                                                     "security_protocol": "PLAINTEXT"}
    assert kafka_security.aiokafka_config(s) == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT"}
    assert kafka_security.faust_config(s) == {"broker": ["kafka://a:1", "kafka://b:2"], "broker_credentials": None}
    assert kafka_security.ssl_context(s) is None


def test_sasl_ssl_options_for_kafka_python_aiokafka_and_faust() -> None:
    import faust

    s = Settings.from_env(sasl_env(DETECTOR_KAFKA_SASL_MECHANISM="SCRAM-SHA-256", DETECTOR_KAFKA_CHECK_HOSTNAME="false"))
    kp = kafka_security.kafka_python_config(s)
    assert kp == {"bootstrap_servers": ["b1:9094", "b2:9094"], "security_protocol": "SASL_SSL",
                  "ssl_check_hostname": False, "ssl_cafile": None, "ssl_certfile": None, "ssl_keyfile": None,
                  "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": "detector-worker",
                  "sasl_plain_password": SECRET}
    ak = kafka_security.aiokafka_config(s)
    ctx = ak.pop("ssl_context")
    assert isinstance(ctx, ssl.SSLContext) and ctx.verify_mode == ssl.CERT_REQUIRED and not ctx.check_hostname
    assert ak == {"bootstrap_servers": ["b1:9094", "b2:9094"], "security_protocol": "SASL_SSL",
                  "sasl_mechanism": "SCRAM-SHA-256", "sasl_plain_username": "detector-worker",
                  "sasl_plain_password": SECRET}
    creds = kafka_security.faust_config(s)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials) and creds.protocol.value == "SASL_SSL"
    assert creds.mechanism.value == "SCRAM-SHA-256" and creds.ssl_context is ctx and creds.password == SECRET
    assert SECRET not in repr(creds)
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    assert credentials_to_aiokafka_auth(creds) == {**{k: v for k, v in ak.items() if k != "bootstrap_servers"},
                                                   "ssl_context": ctx}


def test_ssl_only_and_sasl_plaintext() -> None:
    import faust

    ssl_only = Settings.from_env({"DETECTOR_KAFKA_SECURITY_PROTOCOL": "SSL"})
    assert isinstance(kafka_security.faust_config(ssl_only)["broker_credentials"], faust.SSLCredentials)
    assert "sasl_mechanism" not in kafka_security.kafka_python_config(ssl_only)
    assert kafka_security.ssl_context(ssl_only).check_hostname   # type: ignore[union-attr]
    plain = Settings.from_env(sasl_env(DETECTOR_KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT",
                                       DETECTOR_KAFKA_SASL_MECHANISM="PLAIN"))
    assert "ssl_context" not in kafka_security.aiokafka_config(plain)
    creds = kafka_security.faust_config(plain)["broker_credentials"]
    assert creds.protocol.value == "SASL_PLAINTEXT" and creds.ssl_context is None


@pytest.mark.parametrize(("env", "message"), [
    ({"DETECTOR_KAFKA_SECURITY_PROTOCOL": "TLS"}, "DETECTOR_KAFKA_SECURITY_PROTOCOL must be one of"),
    (sasl_env(DETECTOR_KAFKA_SASL_MECHANISM="GSSAPI"), "DETECTOR_KAFKA_SASL_MECHANISM must be one of"),
    (sasl_env(DETECTOR_KAFKA_SASL_USERNAME=""), "needs DETECTOR_KAFKA_SASL_USERNAME and"),
    (sasl_env(DETECTOR_KAFKA_SASL_PASSWORD=""), "needs DETECTOR_KAFKA_SASL_USERNAME and"),
    (sasl_env(DETECTOR_KAFKA_SECURITY_PROTOCOL="PLAINTEXT"), "are set but DETECTOR_KAFKA_SECURITY_PROTOCOL"),
    ({"DETECTOR_KAFKA_CA_FILE": "/ca.pem"}, "need DETECTOR_KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL"),
    (sasl_env(DETECTOR_KAFKA_CERT_FILE="/c.pem"), "set both DETECTOR_KAFKA_CERT_FILE and DETECTOR_KAFKA_KEY_FILE"),
    (sasl_env(DETECTOR_KAFKA_CHECK_HOSTNAME="maybe"), "DETECTOR_KAFKA_CHECK_HOSTNAME: expected bool"),
])
def test_settings_that_cannot_work_are_refused_without_echoing_the_password(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        Settings.from_env(env)
    assert SECRET not in str(err.value)


def test_password_from_a_file_is_a_secret_everywhere(tmp_path: Path) -> None:
    path = tmp_path / "pw"
    path.write_text(SECRET + "\n")
    env = sasl_env(DETECTOR_KAFKA_SASL_PASSWORD_FILE=str(path))
    del env["DETECTOR_KAFKA_SASL_PASSWORD"]
    s = Settings.from_env(env)
    assert s.kafka_sasl_password == SECRET and s.kafka_sasl_password_file == str(path)
    assert SECRET not in repr(s) and SECRET not in str(s.to_env()) and SECRET not in kafka_security.describe(s)
    assert "DETECTOR_KAFKA_SASL_PASSWORD" not in s.to_env() and s.to_env()["DETECTOR_KAFKA_SASL_PASSWORD_FILE"] == str(path)
    # a child process re-reads the file (and an inherited DETECTOR_KAFKA_SASL_PASSWORD is blanked)
    assert s.secret_env()["DETECTOR_KAFKA_SASL_PASSWORD"] == ""
    assert Settings.from_env({**s.to_env(), **s.secret_env()}).kafka_sasl_password == SECRET
    direct = Settings.from_env(sasl_env())
    assert direct.secret_env()["DETECTOR_KAFKA_SASL_PASSWORD"] == SECRET
    assert Settings.from_env({**direct.to_env(), **direct.secret_env()}).kafka_sasl_password == SECRET
    with pytest.raises(ValueError, match="set only one of DETECTOR_KAFKA_SASL_PASSWORD or") as err:
        Settings.from_env(sasl_env(DETECTOR_KAFKA_SASL_PASSWORD_FILE=str(path)))
    assert SECRET not in str(err.value)


def test_a_bootstrap_string_keeps_the_environments_security(monkeypatch: pytest.MonkeyPatch) -> None:
    for k, v in sasl_env().items():
        monkeypatch.setenv(k, v)
    s = kafka_security.resolve("other:1")
    assert s.kafka_bootstrap == "other:1" and s.kafka_security_protocol == "SASL_SSL"
    assert s.kafka_sasl_username == "detector-worker"
    given = Settings()
    assert kafka_security.resolve(given) is given


def test_unreadable_tls_files_name_the_variables_not_the_contents(tmp_path: Path) -> None:
    s = Settings.from_env({"DETECTOR_KAFKA_SECURITY_PROTOCOL": "SSL", "DETECTOR_KAFKA_CA_FILE": str(tmp_path / "no.pem")})
    with pytest.raises(kafka_security.KafkaTLSError, match="DETECTOR_KAFKA_CA_FILE=.*no.pem"):
        kafka_security.ssl_context(s)


def test_check_skips_plaintext_and_reports_an_unreachable_secured_broker_fast() -> None:
    kafka_security.check(Settings(kafka_bootstrap="127.0.0.1:1"))   # PLAINTEXT: nothing to check, no connection
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]   # bound, not listening: connection refused
        s = Settings.from_env(sasl_env(DETECTOR_KAFKA_BOOTSTRAP=f"127.0.0.1:{port}"))
        t0 = time.monotonic()
        with pytest.raises(kafka_security.KafkaUnreachableError, match=f"127.0.0.1:{port}") as err:
            kafka_security.check(s)
    assert time.monotonic() - t0 < 5 and isinstance(err.value, OSError)
    assert SECRET not in str(err.value)


def test_log_records_never_carry_a_registered_secret(caplog: pytest.LogCaptureFixture) -> None:
    s = Settings.from_env(sasl_env(DETECTOR_KAFKA_SASL_MECHANISM="PLAIN"))
    kafka_security.aiokafka_config(s)   # building a client's options registers the password
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("aiokafka.conn").debug("Request 3: SaslAuthenticateRequest_v1(sasl_auth_bytes=%r)",
                                                 b"\x00detector-worker\x00" + SECRET.encode())
        logging.getLogger("anything").warning("in the message itself: " + SECRET)
    text = caplog.text
    assert SECRET not in text and text.count("***") == 2


def test_faust_app_carries_the_credentials() -> None:
    from streams.app import faust_app

    s = Settings.from_env(sasl_env(), group_id="xd-unit-sec")
    app = faust_app(s)
    creds = app.conf.broker_credentials
    assert creds.username == "detector-worker" and creds.protocol.value == "SASL_SSL"
    assert [str(u) for u in app.conf.broker] == ["kafka://b1:9094", "kafka://b2:9094"]


def test_acls_per_role_use_the_prefixed_names_and_groups() -> None:
    s = Settings(topic_prefix="t1.", group_id="g-worker", notify_group="g-notify")
    worker = {(g.resource, g.name, g.operation) for g in kafka_acls.grants(s, "worker")}
    assert ("group", "g-worker", "READ") in worker and ("topic", "t1.gateway-logs", "READ") in worker
    assert ("topic", "t1.extraction-alerts", "WRITE") in worker and ("topic", "t1.gateway-logs-dlq", "WRITE") in worker
    assert not any(op == "CREATE" for _, _, op in worker)
    assert sum(op == "CREATE" for _, _, op in
               ((g.resource, g.name, g.operation) for g in kafka_acls.grants(s, "worker", create_topics=True))) == 8
    assert {(g.name, g.operation) for g in kafka_acls.grants(s, "notifier")} == {
        ("t1.extraction-alerts", "READ"), ("g-notify", "READ")}
    assert {(g.name, g.operation) for g in kafka_acls.grants(s, "enforcer")} == {("t1.extraction-decisions", "READ")}
    cmds = kafka_acls.kafka_acls_commands(s, "enforcer", "User:enf")
    assert cmds == ["kafka-acls.sh --bootstrap-server 127.0.0.1:19092 --command-config admin.properties --add "
                    "--allow-principal User:enf --operation Read --topic t1.extraction-decisions"]
    with pytest.raises(ValueError, match="unknown role"):
        kafka_acls.grants(s, "root")
