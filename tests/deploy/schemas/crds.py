"""Minimal JSON schemas for the custom resources Hulin ships: Strimzi's Kafka, KafkaNodePool,
KafkaTopic and KafkaUser (kafka.strimzi.io/v1beta2) and the Prometheus Operator's ServiceMonitor
(monitoring.coreos.com/v1).

kubernetes-validate bundles only the built-in kinds, and the CRDs' own schemas are not available
offline, so these were written from the Strimzi and Prometheus Operator API references for the
fields Hulin uses. They are stricter than the real CRDs where it helps (unknown keys in `spec` are
errors, so a typo such as `partitons` fails CI) and looser where Hulin does not care (pass-through
objects such as broker `config`). Add a field here when a manifest starts using it.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_quantity: Schema = {"anyOf": [{"type": "string"}, {"type": "number"}]}
_resources: Schema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "requests": {"type": "object", "additionalProperties": _quantity},
        "limits": {"type": "object", "additionalProperties": _quantity},
    },
}
_metadata: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            "maxLength": 253,
        },
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_cluster_label: Schema = {
    "type": "object",
    "required": ["labels"],
    "properties": {
        "labels": {"type": "object", "required": ["strimzi.io/cluster"]},
    },
}
# Broker/topic config values: Strimzi accepts strings, numbers and booleans.
_config: Schema = {
    "type": "object",
    "additionalProperties": {"type": ["string", "integer", "number", "boolean"]},
}
_volume: Schema = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "integer", "minimum": 0},
        "type": {"enum": ["ephemeral", "persistent-claim"]},
        "size": {"type": "string", "pattern": r"^[0-9]+([KMGTPE]i?)?$"},
        "class": {"type": "string"},
        "deleteClaim": {"type": "boolean"},
        "kraftMetadata": {"enum": ["shared"]},
        "sizeLimit": {"type": "string"},
    },
}
_storage: Schema = {
    "type": "object",
    "required": ["type"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["ephemeral", "persistent-claim", "jbod"]},
        "size": {"type": "string"},
        "class": {"type": "string"},
        "deleteClaim": {"type": "boolean"},
        "volumes": {"type": "array", "minItems": 1, "items": _volume},
    },
}


def _resource(api_version: str, kind: str, spec: Schema, metadata: Schema | None = None) -> Schema:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": {"allOf": [_metadata, metadata or {}]},
            "spec": spec,
        },
    }


KAFKA_TOPIC = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaTopic",
    {
        "type": "object",
        "required": ["partitions", "replicas"],
        "additionalProperties": False,
        "properties": {
            "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
            "partitions": {"type": "integer", "minimum": 1},
            "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
            "config": _config,
        },
    },
    _cluster_label,
)

KAFKA_NODE_POOL = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaNodePool",
    {
        "type": "object",
        "required": ["replicas", "roles", "storage"],
        "additionalProperties": False,
        "properties": {
            "replicas": {"type": "integer", "minimum": 0},
            "roles": {
                "type": "array",
                "minItems": 1,
                "uniqueItems": True,
                "items": {"enum": ["controller", "broker"]},
            },
            "storage": _storage,
            "resources": _resources,
            "jvmOptions": {"type": "object"},
            "template": {"type": "object"},
        },
    },
    _cluster_label,
)

_listener: Schema = {
    "type": "object",
    "required": ["name", "port", "type", "tls"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]{1,11}$"},
        "port": {"type": "integer", "minimum": 9092},
        "type": {
            "enum": ["internal", "route", "loadbalancer", "nodeport", "ingress", "cluster-ip"]
        },
        "tls": {"type": "boolean"},
        "authentication": {
            "type": "object",
            "required": ["type"],
            "properties": {"type": {"enum": ["tls", "scram-sha-512", "oauth", "custom"]}},
        },
        "configuration": {"type": "object"},
        "networkPolicyPeers": {"type": "array"},
    },
}

KAFKA = _resource(
    "kafka.strimzi.io/v1beta2",
    "Kafka",
    {
        "type": "object",
        "required": ["kafka"],
        "additionalProperties": False,
        "properties": {
            "kafka": {
                "type": "object",
                "required": ["listeners"],
                "additionalProperties": False,
                "properties": {
                    "version": {"type": "string", "pattern": r"^[0-9]+\.[0-9]+\.[0-9]+$"},
                    "metadataVersion": {"type": "string"},
                    "listeners": {"type": "array", "minItems": 1, "items": _listener},
                    "config": _config,
                    "authorization": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {"enum": ["simple", "opa", "keycloak", "custom"]},
                            "superUsers": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                    "rack": {"type": "object"},
                    "template": {"type": "object"},
                    "metricsConfig": {"type": "object"},
                },
            },
            "entityOperator": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "topicOperator": {"type": "object"},
                    "userOperator": {"type": "object"},
                    "template": {"type": "object"},
                },
            },
            "cruiseControl": {"type": "object"},
            "kafkaExporter": {"type": "object"},
        },
    },
)

# KafkaUser (Strimzi's AclRule reference): `operations` (the older singular `operation` is
# deprecated), a cluster resource has no name, topic/group/transactionalId resources do.
_acl_operation: Schema = {
    "enum": [
        "Read",
        "Write",
        "Create",
        "Delete",
        "Alter",
        "Describe",
        "ClusterAction",
        "AlterConfigs",
        "DescribeConfigs",
        "IdempotentWrite",
        "All",
    ]
}
_acl_rule: Schema = {
    "type": "object",
    "required": ["resource", "operations"],
    "additionalProperties": False,
    "properties": {
        "type": {"enum": ["allow", "deny"]},
        "host": {"type": "string"},
        "operations": {
            "type": "array",
            "minItems": 1,
            "uniqueItems": True,
            "items": _acl_operation,
        },
        "resource": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                "name": {"type": "string", "minLength": 1},
                "patternType": {"enum": ["literal", "prefix"]},
            },
            "if": {"properties": {"type": {"const": "cluster"}}},
            "then": {"not": {"anyOf": [{"required": ["name"]}, {"required": ["patternType"]}]}},
            "else": {"required": ["name"]},
        },
    },
}

KAFKA_USER = _resource(
    "kafka.strimzi.io/v1beta2",
    "KafkaUser",
    {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "authentication": {
                "type": "object",
                "required": ["type"],
                "additionalProperties": False,
                "properties": {
                    "type": {"enum": ["tls", "tls-external", "scram-sha-512"]},
                    "password": {"type": "object"},
                },
            },
            "authorization": {
                "type": "object",
                "required": ["type", "acls"],
                "additionalProperties": False,
                "properties": {
                    "type": {"const": "simple"},
                    "acls": {"type": "array", "items": _acl_rule},
                },
            },
            "quotas": {"type": "object"},
            "template": {"type": "object"},
        },
    },
    _cluster_label,
)

SERVICE_MONITOR = _resource(
    "monitoring.coreos.com/v1",
    "ServiceMonitor",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "additionalProperties": False,
        "properties": {
            "selector": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "matchExpressions": {"type": "array"},
                },
            },
            "namespaceSelector": {"type": "object"},
            "jobLabel": {"type": "string"},
            "endpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "port": {"type": "string"},
                        "targetPort": {"type": ["string", "integer"]},
                        "path": {"type": "string", "pattern": "^/"},
                        "scheme": {"enum": ["http", "https"]},
                        "interval": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"},
                        "scrapeTimeout": {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"},
                        "honorLabels": {"type": "boolean"},
                        "relabelings": {"type": "array"},
                        "metricRelabelings": {"type": "array"},
                    },
                },
            },
        },
    },
)

SCHEMAS: dict[tuple[str, str], Schema] = {
    ("kafka.strimzi.io/v1beta2", "Kafka"): KAFKA,
    ("kafka.strimzi.io/v1beta2", "KafkaNodePool"): KAFKA_NODE_POOL,
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC,
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): KAFKA_USER,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
}
