"""The deployment files validate offline, and the validator catches what it is there to catch.

Every overlay under deploy/k8s/overlays is rendered with kustomize and checked against the
Kubernetes schemas and Hulin's rules; docker-compose.yml against the Compose Specification; the
Dockerfile and its entrypoint by lint. The second half feeds deliberately broken files to the same
validator and asserts it names the fault: a validator that passes everything proves nothing.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _load_validator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "validate_deploy", REPO / "scripts" / "validate_deploy.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["validate_deploy"] = module
    spec.loader.exec_module(module)
    return module


vd = _load_validator()
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def prod() -> list[Obj]:
    objects: list[Obj] = vd.render(vd.OVERLAYS / "prod")
    return objects


def _find(objects: list[Obj], kind: str, name: str) -> Obj:
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name))


def _container(objects: list[Obj], service: str) -> Obj:
    dep = _find(objects, "Deployment", f"hulin-{service}")
    container: Obj = dep["spec"]["template"]["spec"]["containers"][0]
    return container


# ------------------------------------------------------------------------ the shipped files pass


def test_there_are_dev_and_prod_overlays() -> None:
    assert {p.name for p in vd.overlays()} >= {"dev", "prod"}


@pytest.mark.parametrize("overlay", [p.name for p in vd.overlays()])
def test_overlay_renders_and_validates_against_kubernetes_schemas_and_rules(overlay: str) -> None:
    assert vd.validate_overlay(vd.OVERLAYS / overlay) == []


def test_prod_with_the_monitoring_component_validates(tmp_path: Path) -> None:
    # As a district overlay would add it: on top of prod, in prod's namespace. kustomize accepts
    # only relative paths to other kustomizations.
    prod_rel = os.path.relpath(vd.OVERLAYS / "prod", tmp_path)
    monitoring_rel = os.path.relpath(vd.K8S_DIR / "components" / "monitoring", tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"namespace": "hulin", "resources": [prod_rel], "components": [monitoring_rel]}
        )
    )
    objects = vd.render(tmp_path)
    monitor = _find(objects, "ServiceMonitor", "hulin")
    assert monitor["metadata"]["namespace"] == "hulin"
    assert vd.validate_objects(objects, overlay="prod") == []


def test_every_topic_of_the_plan_is_a_kafka_topic_with_its_partitions(prod: list[Obj]) -> None:
    topics = {
        o["spec"]["topicName"]: o["spec"]["partitions"] for o in prod if o["kind"] == "KafkaTopic"
    }
    assert topics == vd.topic_plan()
    assert topics["hulin.patrol.points"] == 12 and topics["hulin.deadletter"] == 3


def test_prod_replicates_and_dev_does_not() -> None:
    dev = vd.render(vd.OVERLAYS / "dev")
    prod = vd.render(vd.OVERLAYS / "prod")
    for objects, replicas, min_isr, floor, env in ((dev, 1, 1, 1, "dev"), (prod, 3, 2, 2, "prod")):
        for topic in (o for o in objects if o["kind"] == "KafkaTopic"):
            assert topic["spec"]["replicas"] == replicas
            assert topic["spec"]["config"]["min.insync.replicas"] == min_isr
        for hpa in (o for o in objects if o["kind"] == "HorizontalPodAutoscaler"):
            assert hpa["spec"]["minReplicas"] == floor
        assert _find(objects, "ConfigMap", "hulin-settings")["data"]["HULIN_ENV"] == env


def test_services_probe_the_contract_paths_and_stop_gracefully(prod: list[Obj]) -> None:
    for service in vd.SERVICES:
        container = _container(prod, service)
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
        pod = _find(prod, "Deployment", f"hulin-{service}")["spec"]["template"]["spec"]
        assert pod["terminationGracePeriodSeconds"] == 30
        assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER


def test_placeholder_jwt_secret_is_refused_by_prod_settings(prod: list[Obj]) -> None:
    # The base ships a placeholder on purpose; it must be one the services refuse in prod, so a
    # forgotten secret stops the rollout instead of running with a guessable key.
    from pydantic import ValidationError

    from shared.settings import Settings

    secret = _find(prod, "Secret", "hulin-secrets")
    placeholder = vd._secret_value(secret, "HULIN_JWT_SECRET")
    with pytest.raises(ValidationError):
        Settings(env="prod", jwt_secret=placeholder)


def test_compose_file_matches_the_compose_specification_and_rules() -> None:
    assert vd.validate_compose(REPO / "docker-compose.yml") == []


def test_dockerfile_is_multi_stage_slim_non_root_with_healthcheck() -> None:
    assert vd.lint_dockerfile(REPO / "Dockerfile") == []


def test_entrypoint_execs_uvicorn_with_the_contract_ports() -> None:
    assert vd.lint_entrypoint(REPO / "deploy" / "docker" / "entrypoint.sh") == []


def test_k8s_config_copies_match_the_shipped_org_and_policy_files() -> None:
    assert vd.config_copy_errors() == []


# ------------------------------------------------------------- broken files are reported


def _set(path: list[Any], value: Any) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return apply


def _delete(path: list[Any]) -> Callable[[Obj], None]:
    def apply(obj: Obj) -> None:
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return apply


APP = ["spec", "template", "spec", "containers", 0]
BROKEN_OBJECTS = [
    # (kind, name prefix, mutation, words the report must contain)
    ("Deployment", "hulin-patrol", _set([*APP, "livenesProbe"], {}), "livenesProbe"),
    ("Deployment", "hulin-patrol", _set([*APP, "ports", 0, "containerPort"], "8001"), "8001"),
    ("Deployment", "hulin-notify", _delete([*APP, "readinessProbe"]), "readinessProbe"),
    ("Deployment", "hulin-incidents", _set([*APP, "args"], ["patrol"]), "args"),
    (
        "Deployment",
        "hulin-incidents",
        _set([*APP, "securityContext", "readOnlyRootFilesystem"], False),
        "readOnlyRootFilesystem",
    ),
    (
        "Deployment",
        "hulin-patrol",
        _set(["spec", "template", "spec", "securityContext", "runAsNonRoot"], False),
        "runAsNonRoot",
    ),
    ("Deployment", "hulin-patrol", _delete([*APP, "resources", "limits"]), "limits.memory"),
    (
        "Deployment",
        "hulin-patrol",
        _set(["spec", "template", "spec", "terminationGracePeriodSeconds"], 10),
        "grace",
    ),
    (
        "Deployment",
        "hulin-notify",
        _set([*APP, "envFrom", 1, "secretRef", "name"], "nope"),
        "'nope'",
    ),
    (
        "Deployment",
        "hulin-incidents",
        _delete(["spec", "template", "spec", "initContainers"]),
        "wait-for-topics",
    ),
    (
        "Service",
        "hulin-notify",
        _set(["spec", "selector", "app.kubernetes.io/name"], "notfy"),
        "matches no pod",
    ),
    ("HorizontalPodAutoscaler", "hulin-notify", _set(["spec", "minReplicas"], 1), "minReplicas"),
    (
        "HorizontalPodAutoscaler",
        "hulin-patrol",
        _set(["spec", "scaleTargetRef", "name"], "x"),
        "not in the render",
    ),
    ("KafkaTopic", "hulin.reports", _set(["spec", "partitions"], 3), "plans 6"),
    ("KafkaTopic", "hulin.reports", _set(["spec", "partitons"], 6), "partitons"),
    ("KafkaTopic", "hulin.incidents", _set(["spec", "replicas"], 4), "broker"),
    (
        "KafkaTopic",
        "hulin.patrol",
        _set(["spec", "config", "min.insync.replicas"], 4),
        "min.insync.replicas",
    ),
    ("Kafka", "hulin", _delete(["metadata", "annotations", "strimzi.io/kraft"]), "KRaft"),
    (
        "ConfigMap",
        "hulin-settings",
        _set(["data", "HULIN_KAFKA_BOOTSTRAPS"], "kafka:9092"),
        "HULIN_KAFKA_BOOTSTRAPS is not a setting",
    ),
    ("StatefulSet", "hulin-mongo", _set(["spec", "replicas"], 5), "MONGO_MEMBERS"),
    (
        "PodDisruptionBudget",
        "hulin-patrol",
        _set(["spec", "maxUnavailable"], [1]),
        "maxUnavailable",
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "mutate", "expected"),
    BROKEN_OBJECTS,
    ids=[f"{k}-{e}" for k, _, _, e in BROKEN_OBJECTS],
)
def test_a_broken_object_is_reported(
    prod: list[Obj], kind: str, name: str, mutate: Callable[[Obj], None], expected: str
) -> None:
    objects = copy.deepcopy(prod)
    mutate(_find(objects, kind, name))
    errors = vd.validate_objects(objects, overlay="prod")
    assert errors, f"the validator accepted a broken {kind}"
    assert any(expected in e for e in errors), errors


def _without(objects: list[Obj], kind: str, name: str) -> list[Obj]:
    return [o for o in objects if not (o["kind"] == kind and o["metadata"]["name"] == name)]


def test_prod_closes_ingress_by_default_and_gives_each_workload_a_policy(
    prod: list[Obj],
) -> None:
    assert vd.network_policy_errors(prod) == []


def test_a_namespace_without_default_deny_ingress_is_reported(prod: list[Obj]) -> None:
    errors = vd.validate_objects(
        _without(prod, "NetworkPolicy", "hulin-default-deny-ingress"), overlay="prod"
    )
    assert any("default-deny" in e for e in errors), errors


@pytest.mark.parametrize("service", ["patrol", "patrol-worker", "incidents", "notify", "mongo"])
def test_a_workload_without_its_network_policy_is_reported(prod: list[Obj], service: str) -> None:
    errors = vd.validate_objects(_without(prod, "NetworkPolicy", f"hulin-{service}"))
    assert any(f"hulin-{service}: no NetworkPolicy" in e for e in errors), errors


@pytest.mark.parametrize("service", ["patrol", "patrol-worker", "incidents", "notify"])
def test_a_service_whose_egress_is_open_is_reported(prod: list[Obj], service: str) -> None:
    objects = copy.deepcopy(prod)
    policy = _find(objects, "NetworkPolicy", f"hulin-{service}")
    policy["spec"]["policyTypes"] = ["Ingress"]
    del policy["spec"]["egress"]
    errors = vd.validate_objects(objects)
    assert any(f"hulin-{service}: its NetworkPolicy does not restrict egress" in e for e in errors)


def test_notify_reaches_public_webhooks_but_not_private_ranges(prod: list[Obj]) -> None:
    egress = _find(prod, "NetworkPolicy", "hulin-notify")["spec"]["egress"]
    blocks = [peer["ipBlock"] for rule in egress for peer in rule["to"] if "ipBlock" in peer]
    assert blocks == [
        {
            "cidr": "0.0.0.0/0",
            "except": [
                "10.0.0.0/8",
                "172.16.0.0/12",
                "192.168.0.0/16",
                "169.254.0.0/16",
                "127.0.0.0/8",
            ],
        }
    ]


def test_an_unknown_kind_is_reported(prod: list[Obj]) -> None:
    objects = [*prod, {"apiVersion": "v1", "kind": "ConfigMapp", "metadata": {"name": "x"}}]
    assert any("no schema" in e for e in vd.validate_objects(objects))


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    """A copy of deploy/k8s to break without touching the real one."""
    target = tmp_path / "k8s"
    shutil.copytree(vd.K8S_DIR, target)
    return target


def test_a_broken_manifest_file_fails_the_overlay(k8s_copy: Path) -> None:
    patrol = k8s_copy / "base" / "apps" / "patrol.yaml"
    patrol.write_text(patrol.read_text().replace("readinessProbe:", "readinesProbe:"))
    errors = vd.validate_overlay(k8s_copy / "overlays" / "prod")
    assert any("readinesProbe" in e for e in errors), errors


def test_a_kustomization_naming_a_missing_file_fails_the_overlay(k8s_copy: Path) -> None:
    base = k8s_copy / "base" / "kustomization.yaml"
    base.write_text(base.read_text().replace("apps/notify.yaml", "apps/notfy.yaml"))
    errors = vd.validate_overlay(k8s_copy / "overlays" / "dev")
    assert len(errors) == 1 and "kustomize failed" in errors[0] and "notfy" in errors[0]


def test_an_overlay_that_forgets_the_environment_is_reported(k8s_copy: Path) -> None:
    dev = k8s_copy / "overlays" / "dev" / "kustomization.yaml"
    dev.write_text(dev.read_text().replace("HULIN_ENV=dev", "HULIN_ENV=prod"))
    errors = vd.validate_overlay(k8s_copy / "overlays" / "dev")
    assert any("HULIN_ENV='prod', expected 'dev'" in e for e in errors), errors


def _compose_with(tmp_path: Path, edit: Callable[[Obj], None]) -> list[str]:
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    edit(doc)
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(doc))
    # The bind mounts are relative to the compose file's folder.
    for sub in ("shared/org", "shared/policy"):
        (tmp_path / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "shared/org/demo_district.yaml", tmp_path / "shared/org/")
    shutil.copy(REPO / "shared/policy/default_policy.yaml", tmp_path / "shared/policy/")
    errors: list[str] = vd.validate_compose(path)
    return errors


def test_compose_copy_is_valid_before_breaking_it(tmp_path: Path) -> None:
    assert _compose_with(tmp_path, lambda doc: None) == []


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            _set(["services", "patrol", "depends_on", "kafka", "condition"], "service_ready"),
            "service_ready",
        ),
        (_set(["services", "notify", "ports"], "8003"), "ports"),
        (_set(["services", "incidents", "restart"], ["always"]), "restart"),
        (_delete(["services", "patrol", "depends_on", "topics"]), "depends_on.topics"),
        (_delete(["services", "mongo", "healthcheck"]), "services.mongo: healthcheck"),
        (_set(["services", "topics", "command"], ["create hulin.reports 3"]), "shared/topics.py"),
        (_set(["services", "notify", "healthcheck", "test"], ["CMD", "true"]), "port 8003"),
        (
            _set(["services", "patrol", "environment", "HULIN_MONGO_URL"], "mongodb://x"),
            "HULIN_MONGO_URL is not a setting",
        ),
    ],
)
def test_a_broken_compose_file_is_reported(
    tmp_path: Path, edit: Callable[[Obj], None], expected: str
) -> None:
    errors = _compose_with(tmp_path, edit)
    assert any(expected in e for e in errors), errors


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("USER 10001:10001", "USER root", "USER is root"),
        ("USER 10001:10001", "", "no USER"),
        ('CMD ["python", "/usr/local/lib/hulin/healthcheck.py"]', "NONE", "HEALTHCHECK"),
        (
            'ENTRYPOINT ["/usr/local/bin/hulin-entrypoint"]',
            "ENTRYPOINT /usr/local/bin/hulin-entrypoint",
            "exec form",
        ),
        ("FROM ${PYTHON_IMAGE} AS runtime", "FROM python:3.11 AS runtime", "slim"),
        ("COPY --from=builder /opt/venv /opt/venv", "COPY . /opt/venv", "build context"),
    ],
)
def test_a_broken_dockerfile_is_reported(tmp_path: Path, old: str, new: str, expected: str) -> None:
    text = (REPO / "Dockerfile").read_text()
    assert old in text
    path = tmp_path / "Dockerfile"
    path.write_text(text.replace(old, new))
    errors = vd.lint_dockerfile(path)
    assert any(expected in e for e in errors), errors


def test_a_single_stage_dockerfile_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text('FROM python:3.11-slim\nUSER 10001\nHEALTHCHECK CMD true\nENTRYPOINT ["x"]\n')
    assert any("multi-stage" in e for e in vd.lint_dockerfile(path))


def test_an_entrypoint_without_exec_is_reported(tmp_path: Path) -> None:
    text = (REPO / "deploy" / "docker" / "entrypoint.sh").read_text()
    path = tmp_path / "entrypoint.sh"
    path.write_text(text.replace("exec uvicorn", "uvicorn"))
    assert any("exec uvicorn" in e for e in vd.lint_entrypoint(path))


# ------------------------------------------------------------------- Kafka authentication

INIT = ["spec", "template", "spec", "initContainers", 0]


def _env_var(container: list[Any], name: str, **var: Any) -> Callable[[Obj], None]:
    """Replace (or add) one env entry of a container."""

    def apply(obj: Obj) -> None:
        target = obj
        for key in container:
            target = target[key]
        env = target.setdefault("env", [])
        env[:] = [v for v in env if v["name"] != name] + [{"name": name, **var}]

    return apply


def _acl(user: Obj, kind: str, name: str | None = None) -> Obj:
    acl: Obj = next(
        r
        for r in user["spec"]["authorization"]["acls"]
        if r["resource"]["type"] == kind and r["resource"].get("name") == name
    )
    return acl


def _edit_acl(kind: str, name: str | None, edit: Callable[[Obj], None]) -> Callable[[Obj], None]:
    return lambda user: edit(_acl(user, kind, name))


def _drop_op(op: str) -> Callable[[Obj], None]:
    return lambda acl: acl["operations"].remove(op)


def _add_op(op: str) -> Callable[[Obj], None]:
    return lambda acl: acl["operations"].append(op)


def _add_acl(resource: Obj, operations: list[str]) -> Callable[[Obj], None]:
    return lambda user: user["spec"]["authorization"]["acls"].append(
        {"resource": resource, "operations": operations}
    )


def _password_from(secret: str, key: str = "password") -> Obj:
    return {"valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


KAFKA_BROKEN = [
    # (a) a container that talks to Kafka without TLS and SASL, or not against the cluster CA
    (
        "ConfigMap",
        "hulin-settings",
        _set(["data", "HULIN_KAFKA_SECURITY_PROTOCOL"], "PLAINTEXT"),
        "container incidents: talks to Kafka with HULIN_KAFKA_SECURITY_PROTOCOL=PLAINTEXT",
    ),
    (
        "Deployment",
        "hulin-notify",
        _env_var(APP, "HULIN_KAFKA_SECURITY_PROTOCOL", value="SASL_PLAINTEXT"),
        "hulin-notify container notify: talks to Kafka with HULIN_KAFKA_SECURITY_PROTOCOL=SASL_",
    ),
    (
        "ConfigMap",
        "hulin-settings",
        _set(["data", "HULIN_KAFKA_SSL_CAFILE"], "/etc/ssl/certs/ca-certificates.crt"),
        "is not ca.crt of the Secret hulin-cluster-ca-cert",
    ),
    (
        "ConfigMap",
        "hulin-settings",
        _set(["data", "HULIN_KAFKA_SASL_MECHANISM"], "SCRAM-SHA-256"),
        "wants SCRAM-SHA-512",
    ),
    (
        "ConfigMap",
        "hulin-settings",
        _set(["data", "HULIN_KAFKA_BOOTSTRAP"], "hulin-kafka-bootstrap:9092"),
        "is no listener of a Kafka",
    ),
    # (b) a SASL username without its KafkaUser, a password that is not that user's
    (
        "Deployment",
        "hulin-notify",
        _env_var(APP, "HULIN_KAFKA_SASL_USERNAME", value="hulin-notfy"),
        "SASL username 'hulin-notfy' has no KafkaUser",
    ),
    (
        "Deployment",
        "hulin-incidents",
        _env_var(APP, "HULIN_KAFKA_SASL_PASSWORD", **_password_from("hulin-notify")),
        "HULIN_KAFKA_SASL_PASSWORD must come from Secret 'hulin-incidents'",
    ),
    (
        "Deployment",
        "hulin-patrol",
        _env_var(INIT, "HULIN_KAFKA_SASL_USERNAME", value="hulin-patrol"),
        "HULIN_KAFKA_SASL_PASSWORD must come from Secret 'hulin-patrol'",
    ),
    (
        "Deployment",
        "hulin-incidents",
        _env_var(APP, "HULIN_KAFKA_SASL_PASSWORD", **_password_from("hulin-nobody")),
        "refers to Secret 'hulin-nobody', which is not in the render",
    ),
    (
        "Deployment",
        "hulin-incidents",
        _env_var(APP, "HULIN_KAFKA_SASL_PASSWORD", **_password_from("hulin-incidents", "pass")),
        "Secret 'hulin-incidents' has no key 'pass'",
    ),
    (
        "KafkaUser",
        "hulin-notify",
        _set(["spec", "authentication", "type"], "tls"),
        "authentication must be scram-sha-512",
    ),
    # (c) what a service does is allowed, and nothing else
    (
        "KafkaUser",
        "hulin-notify",
        _edit_acl("topic", "hulin.notifications", _drop_op("Write")),
        "hulin-notify: lacks Write on topic hulin.notifications",
    ),
    (
        "KafkaUser",
        "hulin-incidents",
        _edit_acl("topic", "hulin.reports", _drop_op("Read")),
        "hulin-incidents: lacks Read on topic hulin.reports",
    ),
    (
        "KafkaUser",
        "hulin-incidents",
        _set(["spec", "authorization", "acls", 2, "resource", "name"], "hulin.incidents.reports"),
        "lacks Read on group hulin.incidents.patrol",
    ),
    (
        "KafkaUser",
        "hulin-patrol-worker",
        _edit_acl("group", "hulin.patrol.", _set(["resource", "name"], "hulin.")),
        "grants ['Read'] on group hulin.*, which is not its workload's own consumer group",
    ),
    (
        "KafkaUser",
        "hulin-patrol-worker",
        lambda user: user["spec"]["authorization"]["acls"].remove(_acl(user, "cluster")),
        "hulin-patrol-worker: lacks IdempotentWrite on the cluster",
    ),
    (  # the forged report.submitted of the finding
        "KafkaUser",
        "hulin-patrol",
        _add_acl({"type": "topic", "name": "hulin.reports"}, ["Write"]),
        "grants ['Write'] on topic hulin.reports, which its workload does not use",
    ),
    (  # ... and the forged incident.*
        "KafkaUser",
        "hulin-notify",
        _edit_acl("topic", "hulin.incidents", _add_op("Write")),
        "grants Write on topic hulin.incidents; its workload needs only ['Describe', 'Read']",
    ),
    (
        "KafkaUser",
        "hulin-notify",
        _add_acl({"type": "topic", "name": "hulin.", "patternType": "prefix"}, ["Read"]),
        "on topics hulin.*: least privilege",
    ),
    (
        "KafkaUser",
        "hulin-incidents",
        _edit_acl("cluster", None, _add_op("Create")),
        "grants Create on the cluster",
    ),
    (
        "KafkaUser",
        "hulin-wait-for-topics",
        _edit_acl("topic", "hulin.reports", _add_op("Read")),
        "hulin-wait-for-topics: grants Read on topic hulin.reports",
    ),
    (
        "KafkaUser",
        "hulin-wait-for-topics",
        _set(["spec", "authorization", "acls"], []),
        "hulin-wait-for-topics: lacks Describe on topic hulin.deadletter",
    ),
    # (d) the Kafka authenticates its listeners and authorizes requests
    (
        "Kafka",
        "hulin",
        _delete(["spec", "kafka", "authorization"]),
        "Kafka/hulin: no authorization",
    ),
    (
        "Kafka",
        "hulin",
        _delete(["spec", "kafka", "listeners", 0, "authentication"]),
        "listener tls has no authentication",
    ),
    (
        "Kafka",
        "hulin",
        _set(["spec", "kafka", "listeners", 0, "tls"], False),
        "which has no TLS and authentication",
    ),
    (
        "Kafka",
        "hulin",
        _delete(["spec", "entityOperator", "userOperator"]),
        "entityOperator.userOperator missing",
    ),
]


@pytest.mark.parametrize(
    ("kind", "name", "mutate", "expected"),
    KAFKA_BROKEN,
    ids=[f"{k}-{e[:40]}" for k, _, _, e in KAFKA_BROKEN],
)
def test_kafka_without_authentication_or_least_privilege_is_reported(
    prod: list[Obj], kind: str, name: str, mutate: Callable[[Obj], None], expected: str
) -> None:
    objects = copy.deepcopy(prod)
    mutate(_find(objects, kind, name))
    assert vd.kafka_auth_errors(prod) == []
    errors = vd.validate_objects(objects, overlay="prod")
    assert any(expected in e for e in errors), errors


def test_a_kafka_user_nobody_uses_is_reported(prod: list[Obj]) -> None:
    spare = copy.deepcopy(_find(prod, "KafkaUser", "hulin-notify"))
    spare["metadata"]["name"] = "hulin-spare"
    errors = vd.validate_objects([*prod, spare], overlay="prod")
    assert any("KafkaUser/hulin-spare: no workload uses it" in e for e in errors), errors


def test_a_deployment_without_a_kafka_user_is_reported(prod: list[Obj]) -> None:
    errors = vd.validate_objects(_without(prod, "KafkaUser", "hulin-patrol-worker"))
    assert any(
        "hulin-patrol-worker container patrol: SASL username 'hulin-patrol-worker' has no "
        "KafkaUser" in e
        for e in errors
    ), errors
    # and the password Secret Strimzi would have made for it is gone with it
    assert any("refers to Secret 'hulin-patrol-worker'" in e for e in errors), errors


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_every_kafka_client_authenticates_as_its_own_user(overlay: str) -> None:
    objects = vd.render(vd.OVERLAYS / overlay)
    assert vd.kafka_auth_errors(objects) == []
    users = {o["metadata"]["name"] for o in objects if o["kind"] == "KafkaUser"}
    seen = set()
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        for c in [*dep["spec"]["template"]["spec"]["initContainers"], *_containers_of(dep)]:
            env = {v["name"]: v for v in c.get("env", [])}
            user = env["HULIN_KAFKA_SASL_USERNAME"]["value"]
            assert env["HULIN_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
                "name": user,
                "key": "password",
            }
            seen.add(user)
    assert (
        seen
        == users
        == {
            "hulin-patrol",
            "hulin-patrol-worker",
            "hulin-incidents",
            "hulin-notify",
            "hulin-wait-for-topics",
        }
    )
    settings = _find(objects, "ConfigMap", "hulin-settings")["data"]
    assert settings["HULIN_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert settings["HULIN_KAFKA_BOOTSTRAP"] == "hulin-kafka-bootstrap:9093"
    kafka = _find(objects, "Kafka", "hulin")["spec"]["kafka"]
    assert [(x["port"], x["tls"], x["authentication"]["type"]) for x in kafka["listeners"]] == [
        (9093, True, "scram-sha-512")
    ]


def _containers_of(dep: Obj) -> list[Obj]:
    containers: list[Obj] = dep["spec"]["template"]["spec"]["containers"]
    return containers


def test_the_validators_kafka_access_is_what_the_consumers_subscribe() -> None:
    """kafka_access() is the validator's reading of the code; this holds it to the code: the
    topics and consumer groups each service's build_consumers really subscribes, and the topic
    plan's owner of each topic is the service that publishes it."""
    from types import SimpleNamespace

    from services.incidents.consumers import build_consumers as incidents
    from services.incidents.settings import IncidentsSettings
    from services.notify.consumers import build_consumers as notify
    from services.patrol.consumers import build_consumers as patrol
    from shared.settings import Settings
    from shared.topics import TOPICS

    def runtime(service: str) -> Any:
        return SimpleNamespace(settings=Settings(env="dev", service=service), publisher=None)

    anything = SimpleNamespace(
        batches=SimpleNamespace(on_reports=None),
        positions=SimpleNamespace(on_position=None, on_patrol_finished=None),
        apply=None,
    )
    built = {
        "hulin-patrol-worker": patrol(runtime("patrol"), anything),  # type: ignore[arg-type]
        "hulin-incidents": incidents(runtime("incidents"), anything, IncidentsSettings(env="dev")),  # type: ignore[arg-type]
        "hulin-notify": notify(runtime("notify"), anything),  # type: ignore[arg-type]
    }
    access = vd.kafka_access()
    for deployment, runners in built.items():
        service = deployment.removeprefix("hulin-").removesuffix("-worker")
        mine = access[(deployment, service)]
        assert {t for r in runners for t in r.topics} == mine.consumes
        assert {r.group for r in runners} == {f"hulin.{service}.{c}" for c in mine.consumers}
    assert not access[("hulin-patrol", "patrol")].consumes  # HULIN_PATROL_CONSUMERS=false
    publishers: dict[str, set[str]] = {}
    for (_, container), a in access.items():
        for topic in a.publishes:
            publishers.setdefault(topic, set()).add(container)
    for plan in TOPICS:
        # "any": every service with consumers dead-letters what they cannot handle
        owners = {"patrol", "incidents", "notify"} if plan.owner == "any" else {plan.owner}
        assert publishers[plan.name] == owners, plan.name
