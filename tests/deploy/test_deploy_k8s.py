"""The Kubernetes manifests in deploy/k8s, checked offline.

* Every object of the base, the backing services (infra), the ServiceMonitors (monitoring) and
  each overlay as rendered is validated against the Kubernetes 1.29 OpenAPI schemas shipped by
  ``kubernetes-validate`` (strict: an unknown field is an error). The custom resources
  (RabbitmqCluster, CloudNativePG Cluster and Database, ServiceMonitor) are not in those schemas;
  they are validated against the small schemas below, which cover the fields the manifests use.
* Overlays are rendered by ``render`` below, a small implementation of the kustomize features
  the overlays use (resources, namespace, images, patches by kind and name). It rejects anything
  else, so an overlay cannot silently rely on a feature it does not implement, and when a
  ``kustomize`` or ``kubectl`` binary is on PATH its output must equal kustomize's own.
* Cross-references: each Deployment has its Service, HorizontalPodAutoscaler and
  PodDisruptionBudget; probes point at declared ports; every ConfigMap and Secret reference names
  an existing object and key; images are pinned; each service reaches its own database only.
"""

from __future__ import annotations

import copy
import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from hqcore import calendar
from hqcore.config import DEFAULT_METRICS_PORTS, SERVICES
from hqops.cli import parser as cli_parser

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.29"
OVERLAYS = ("pilot", "district")
RENDERINGS = {
    "base": K8S / "base",
    "infra": K8S / "infra",
    "monitoring": K8S / "monitoring",
    "pilot": K8S / "overlays" / "pilot",
    "district": K8S / "overlays" / "district",
}
WITH_WORKLOADS = ("base",) + OVERLAYS
WORKLOADS = SERVICES + ("gateway",)
IMAGE_REPOSITORY = "hongqiao-assist"
SECRETS_EXAMPLE = K8S / "secrets.example.yaml"
# Secrets the operators create themselves, with the keys the manifests read from them.
OPERATOR_SECRETS = {"hq-rabbitmq-default-user": {"username", "password"}}
# The request key (HQ_REQUEST_KEY, SEC-14): the gateway signs with it, every service verifies.
REQUEST_KEY_REF = {"name": "hq-request-key", "key": "request-key"}
# Who owns a database in the cluster's PostgreSQL: the six services and the gateway's sessions.
DATABASE_OWNERS = SERVICES + ("gateway",)
# Connections PostgreSQL keeps beyond the services' pools: superuser reserve, the operator's
# instance manager and replication, migration Jobs.
CONNECTION_RESERVE = 20


# --- rendering: the kustomize subset the overlays use --------------------------------------

KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}
IMAGE_KEYS = {"name", "newName", "newTag", "digest"}
CLUSTER_SCOPED = {"Namespace"}
# Lists a patch may contain; kustomize merges them by `name`. Any other list in a patch is
# rejected: kustomize merges some lists by other keys (ports, volumeMounts) and replaces the
# lists of custom resources, which this helper does not imitate.
NAMED_LISTS = {"containers", "initContainers", "env", "volumes"}


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def merge_patch(target, patch, where: str = ""):
    """Strategic merge: maps merge key by key, null deletes, NAMED_LISTS merge by name."""
    if not isinstance(patch, dict) or not isinstance(target, dict):
        if isinstance(patch, list):
            raise ValueError(
                f"patch list at {where or '/'}: only {sorted(NAMED_LISTS)} are supported"
            )
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target)
    for key, value in patch.items():
        path = f"{where}/{key}"
        if key.startswith("$"):
            raise ValueError(f"patch directive {path} is not supported")
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, list):
            if key not in NAMED_LISTS:
                raise ValueError(f"patch list at {path}: only {sorted(NAMED_LISTS)} are supported")
            merged[key] = _merge_named(merged.get(key, []), value, path)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_patch(merged[key], value, path)
        else:
            merged[key] = merge_patch(None, value, path)
    return merged


def _merge_named(items: list, patch_items: list, where: str) -> list:
    result = copy.deepcopy(items)
    for item in patch_items:
        if not isinstance(item, dict) or "name" not in item:
            raise ValueError(f"{where}: every patched item needs a name")
        for index, existing in enumerate(result):
            if existing.get("name") == item["name"]:
                result[index] = merge_patch(existing, item, f"{where}[{item['name']}]")
                break
        else:
            result.append(copy.deepcopy(item))
    return result


def split_image(image: str) -> tuple[str, str, str]:
    """(name, tag, digest) of an image reference; tag and digest may be empty."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = ""
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, digest


def _set_images(node, rule: dict) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    name, tag, digest = split_image(container["image"])
                    if name != rule["name"]:
                        continue
                    new = rule.get("newName", name)
                    if rule.get("digest"):
                        container["image"] = f"{new}@{rule['digest']}"
                    else:
                        tag = rule.get("newTag", tag)
                        container["image"] = (
                            new + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
                        )
            else:
                _set_images(value, rule)
    elif isinstance(node, list):
        for item in node:
            _set_images(item, rule)


def render(directory: Path) -> list[dict]:
    """The objects `kustomize build directory` produces, for the features listed above."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text(encoding="utf-8"))
    unsupported = set(kustomization) - KUSTOMIZATION_KEYS
    if unsupported:
        raise ValueError(f"{directory}: kustomization fields not supported: {sorted(unsupported)}")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        objects += render(path) if path.is_dir() else load_documents(path)
    keys = [(obj["kind"], obj["metadata"]["name"]) for obj in objects]
    duplicates = {key for key in keys if keys.count(key) > 1}
    if duplicates:
        raise ValueError(f"{directory}: objects defined twice: {sorted(duplicates)}")
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise ValueError(f"{directory}: only patches given by `path` are supported: {entry}")
        for patch in load_documents(directory / entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            if key not in keys:
                raise ValueError(f"{directory}/{entry['path']}: no target {key}")
            index = keys.index(key)
            if objects[index]["apiVersion"] != patch["apiVersion"]:
                raise ValueError(f"{directory}/{entry['path']}: {key} has another apiVersion")
            objects[index] = merge_patch(objects[index], patch)
    for rule in kustomization.get("images", []):
        if not set(rule) <= IMAGE_KEYS or "name" not in rule:
            raise ValueError(f"{directory}: image rule not supported: {rule}")
        _set_images(objects, rule)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objects


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict]]:
    return {name: render(path) for name, path in RENDERINGS.items()}


# --- schemas of the custom resources --------------------------------------------------------

QUANTITY = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$"}
RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        part: {
            "type": "object",
            "additionalProperties": False,
            "properties": {"cpu": QUANTITY, "memory": QUANTITY},
        }
        for part in ("requests", "limits")
    },
}
PINNED_IMAGE = {"type": "string", "pattern": r"^[^:@\s]+(:[A-Za-z0-9._-]+|@sha256:[0-9a-f]{64})$"}
NAME_REF = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}},
}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63},
        "namespace": {"type": "string"},
        "labels": LABELS,
        "annotations": LABELS,
    },
}


def _resource_schema(api_version: str, kind: str, spec: dict) -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": spec,
        },
    }


CUSTOM_SCHEMAS = {
    ("rabbitmq.com/v1beta1", "RabbitmqCluster"): _resource_schema(
        "rabbitmq.com/v1beta1",
        "RabbitmqCluster",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["replicas", "image"],
            "properties": {
                "replicas": {"type": "integer", "minimum": 1},
                "image": PINNED_IMAGE,
                "resources": RESOURCES,
                "persistence": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"storage": QUANTITY, "storageClassName": {"type": "string"}},
                },
                "rabbitmq": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "additionalConfig": {"type": "string"},
                        "additionalPlugins": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "affinity": {"type": "object"},
            },
        },
    ),
    ("postgresql.cnpg.io/v1", "Cluster"): _resource_schema(
        "postgresql.cnpg.io/v1",
        "Cluster",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["instances", "imageName", "storage"],
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "imageName": PINNED_IMAGE,
                "primaryUpdateStrategy": {"enum": ["unsupervised", "supervised"]},
                "storage": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["size"],
                    "properties": {"size": QUANTITY, "storageClass": {"type": "string"}},
                },
                "resources": RESOURCES,
                "affinity": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enablePodAntiAffinity": {"type": "boolean"},
                        "topologyKey": {"type": "string"},
                    },
                },
                "postgresql": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "parameters": {"type": "object", "additionalProperties": {"type": "string"}}
                    },
                },
                "managed": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "roles": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["name", "ensure", "login", "passwordSecret"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "ensure": {"enum": ["present", "absent"]},
                                    "login": {"type": "boolean"},
                                    "passwordSecret": NAME_REF,
                                },
                            },
                        }
                    },
                },
            },
        },
    ),
    ("postgresql.cnpg.io/v1", "Database"): _resource_schema(
        "postgresql.cnpg.io/v1",
        "Database",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["cluster", "name", "owner"],
            "properties": {
                "cluster": NAME_REF,
                "name": {"type": "string"},
                "owner": {"type": "string"},
                "ensure": {"enum": ["present", "absent"]},
                "databaseReclaimPolicy": {"enum": ["retain", "delete"]},
            },
        },
    ),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _resource_schema(
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", "endpoints"],
            "properties": {
                "jobLabel": {"type": "string"},
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": LABELS},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": r"^[0-9]+[smh]$"},
                        },
                    },
                },
            },
        },
    ),
}


def validate(obj: dict) -> None:
    """Raise jsonschema.ValidationError (or a subclass) if the object is invalid."""
    schema = CUSTOM_SCHEMAS.get((obj["apiVersion"], obj["kind"]))
    if schema is not None:
        jsonschema.Draft202012Validator(schema).validate(obj)
        return
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


# --- small helpers ------------------------------------------------------------------------


def objects_of(objects: list[dict], kind: str) -> dict[str, dict]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def pod_spec(obj: dict) -> dict:
    return obj["spec"]["template"]["spec"]


def containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def workloads(objects: list[dict]) -> list[dict]:
    return [obj for obj in objects if obj["kind"] in ("Deployment", "Job")]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def example_secrets() -> dict[str, dict]:
    secrets = {}
    for doc in load_documents(SECRETS_EXAMPLE):
        assert doc["kind"] == "Secret"
        secrets[doc["metadata"]["name"]] = {**doc.get("stringData", {}), **doc.get("data", {})}
    return secrets


def secret_keys() -> dict[str, set[str]]:
    keys = {name: set(data) for name, data in example_secrets().items()}
    for name, operator_keys in OPERATOR_SECRETS.items():
        keys[name] = keys.get(name, set()) | operator_keys
    return keys


def container_env(container: dict, configmaps: dict[str, dict]) -> dict[str, str | None]:
    """Every variable the container gets: envFrom ConfigMaps, then env (None: from a Secret)."""
    env: dict[str, str | None] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in container.get("env", []):
        value_from = var.get("valueFrom", {})
        if "configMapKeyRef" in value_from:
            ref = value_from["configMapKeyRef"]
            env[var["name"]] = configmaps[ref["name"]]["data"][ref["key"]]
        else:
            env[var["name"]] = var.get("value")
    return env


def expand(value: str, env: dict) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: str(env[m.group(1)]), value)


def cpu(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def memory(quantity: str) -> int:
    units = {
        "Ki": 2**10,
        "Mi": 2**20,
        "Gi": 2**30,
        "Ti": 2**40,
        "k": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
    }
    for unit, factor in units.items():
        if quantity.endswith(unit):
            return int(float(quantity[: -len(unit)]) * factor)
    return int(quantity)


def settings_variables() -> set[str]:
    """Every environment variable hqcore/config.py reads, per-service names expanded."""
    source = (ROOT / "hqcore" / "config.py").read_text(encoding="utf-8")
    names = set(re.findall(r'env(?:\.get\(|\[)"([A-Z][A-Z0-9_]*)"', source))
    for template in re.findall(r'env\.get\(f"\{name\.upper\(\)\}(_[A-Z_]+)"', source):
        names |= {service.upper() + template for service in SERVICES}
    return names


def pool_connections() -> int:
    source = (ROOT / "hqcore" / "db.py").read_text(encoding="utf-8")
    match = re.search(r"pool_size=(\d+), max_overflow=(\d+)", source)
    assert match, "hqcore/db.py: the PostgreSQL engine's pool_size and max_overflow"
    return int(match.group(1)) + int(match.group(2))


# --- the rendering helper itself -------------------------------------------------------------


def _write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text, encoding="utf-8")


DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - {name: web, image: "acme/web:1.0", args: [a], resources: {limits: {cpu: "1"}}}
        - {name: side, image: "acme/side:2.0"}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {minReplicas: 2, maxReplicas: 4}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
"""


def test_render_applies_patches_images_and_namespace(tmp_path):
    _write(tmp_path / "base", "kustomization.yaml", "resources: [all.yaml]\n")
    _write(tmp_path / "base", "all.yaml", DEPLOYMENT)
    _write(
        tmp_path / "overlay",
        "kustomization.yaml",
        """
namespace: shop
resources: [../base]
images: [{name: acme/web, newTag: "1.1"}]
patches: [{path: patch.yaml}]
""",
    )
    _write(
        tmp_path / "overlay",
        "patch.yaml",
        """
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {maxReplicas: 9}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - {name: web, args: null, resources: {requests: {cpu: 100m}}}
        - {name: extra, image: "acme/extra:3"}
""",
    )
    objects = render(tmp_path / "overlay")
    deployment = objects_of(objects, "Deployment")["web"]
    by_name = {c["name"]: c for c in pod_spec(deployment)["containers"]}
    assert list(by_name) == ["web", "side", "extra"]
    assert by_name["web"] == {
        "name": "web",
        "image": "acme/web:1.1",
        "resources": {"limits": {"cpu": "1"}, "requests": {"cpu": "100m"}},
    }
    assert by_name["side"]["image"] == "acme/side:2.0"
    assert objects_of(objects, "HorizontalPodAutoscaler")["web"]["spec"] == {
        "minReplicas": 2,
        "maxReplicas": 9,
    }
    assert deployment["metadata"]["namespace"] == "shop"
    assert "namespace" not in objects_of(objects, "Namespace")["shop"]["metadata"]


@pytest.mark.parametrize(
    "kustomization, patch, message",
    [
        ("resources: [all.yaml]\nconfigMapGenerator: []\n", None, "not supported"),
        (
            "resources: [all.yaml]\npatches: [{path: p.yaml}]\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: nothing}\n",
            "no target",
        ),
        (
            "resources: [all.yaml]\npatches: [{path: p.yaml}]\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n"
            "spec: {template: {spec: {containers: [{name: web, ports: [{containerPort: 1}]}]}}}\n",
            "only",
        ),
        (
            "resources: [all.yaml]\npatches: [{path: p.yaml, target: {kind: Deployment}}]\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n",
            "only patches",
        ),
        ("resources: [all.yaml, all.yaml]\n", None, "defined twice"),
    ],
)
def test_render_rejects_what_it_does_not_implement(tmp_path, kustomization, patch, message):
    _write(tmp_path, "kustomization.yaml", kustomization)
    _write(tmp_path, "all.yaml", DEPLOYMENT)
    if patch:
        _write(tmp_path, "p.yaml", patch)
    with pytest.raises(ValueError, match=message):
        render(tmp_path)


def _kustomize_command() -> list[str] | None:
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    return None


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_render_agrees_with_kustomize(name, rendered):
    command = _kustomize_command()
    if command is None:
        pytest.skip(
            "neither kustomize nor kubectl is installed: "
            "render() is checked by the tests above only"
        )
    output = subprocess.run(
        command + [str(RENDERINGS[name])], capture_output=True, text=True, timeout=60
    )
    assert output.returncode == 0, output.stderr

    def keyed(objects):
        return {(o["apiVersion"], o["kind"], o["metadata"]["name"]): o for o in objects}

    assert keyed(rendered[name]) == keyed(d for d in yaml.safe_load_all(output.stdout) if d)


# --- schemas -------------------------------------------------------------------------------


def test_every_manifest_file_is_part_of_a_kustomization():
    used = set()
    for kustomization in K8S.rglob("kustomization.yaml"):
        content = yaml.safe_load(kustomization.read_text(encoding="utf-8"))
        for entry in content.get("resources", []) + [p["path"] for p in content.get("patches", [])]:
            path = (kustomization.parent / entry).resolve()
            if path.is_file():
                used.add(path)
    manifests = {
        p.resolve()
        for p in K8S.rglob("*.yaml")
        if p.name != "kustomization.yaml" and p != SECRETS_EXAMPLE
    }
    assert manifests - used == set(), "manifests no kustomization includes"
    for name, path in RENDERINGS.items():
        assert (path / "kustomization.yaml").is_file(), name


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_every_object_validates_against_its_schema(name, rendered):
    assert rendered[name], f"{name} renders no objects"
    for obj in rendered[name]:
        try:
            validate(obj)
        except kubernetes_validate.SchemaNotFoundError:
            pytest.fail(f"{name}: no schema for {obj['apiVersion']} {obj['kind']}")
        except jsonschema.ValidationError as error:
            where = ".".join(str(p) for p in error.path)
            pytest.fail(
                f"{name}: {obj['kind']}/{obj['metadata']['name']}: {where}: {error.message}"
            )


def test_the_secrets_example_validates():
    for obj in load_documents(SECRETS_EXAMPLE):
        validate(obj)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: pod_spec(d)["containers"][0].update(readinesProbe={}),
        lambda d: pod_spec(d)["containers"][0].pop("name"),
        lambda d: d["spec"].update(replicas="two"),
    ],
)
def test_the_validator_rejects_a_broken_deployment(mutate, rendered):
    deployment = copy.deepcopy(objects_of(rendered["base"], "Deployment")["intake"])
    validate(deployment)
    mutate(deployment)
    with pytest.raises(jsonschema.ValidationError):
        validate(deployment)


@pytest.mark.parametrize(
    "kind, mutate",
    [
        ("RabbitmqCluster", lambda r: r["spec"].update(replica=3)),
        ("RabbitmqCluster", lambda r: r["spec"].update(image="rabbitmq")),
        ("Cluster", lambda r: r["spec"]["postgresql"]["parameters"].update(max_connections=450)),
        ("Database", lambda r: r["spec"].pop("owner")),
        ("ServiceMonitor", lambda r: r["spec"]["endpoints"][0].update(targetPort="metrics")),
    ],
)
def test_the_validator_rejects_a_broken_custom_resource(kind, mutate, rendered):
    resource = copy.deepcopy(next(o for o in rendered["district"] if o["kind"] == kind))
    validate(resource)
    mutate(resource)
    with pytest.raises(jsonschema.ValidationError):
        validate(resource)


# --- workloads -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_each_workload_has_its_service_autoscaler_and_disruption_budget(name, rendered):
    objects = rendered[name]
    deployments = objects_of(objects, "Deployment")
    services = objects_of(objects, "Service")
    hpas = objects_of(objects, "HorizontalPodAutoscaler")
    pdbs = objects_of(objects, "PodDisruptionBudget")
    job_pods = [o["spec"]["template"]["metadata"]["labels"] for o in objects if o["kind"] == "Job"]
    assert set(deployments) == set(WORKLOADS)
    for workload, deployment in deployments.items():
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert matches(selector, pod_labels), workload
        assert "replicas" not in deployment["spec"], f"{workload}: the autoscaler owns replicas"

        service_selector = services[workload]["spec"]["selector"]
        assert matches(service_selector, pod_labels), workload
        assert not any(matches(service_selector, labels) for labels in job_pods), (
            f"{workload}: the Service would select migration pods"
        )
        for other, other_deployment in deployments.items():
            if other != workload:
                assert not matches(
                    service_selector, other_deployment["spec"]["template"]["metadata"]["labels"]
                )

        hpa = hpas[workload]["spec"]
        assert hpa["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": workload,
        }
        assert 1 <= hpa["minReplicas"] <= hpa["maxReplicas"], workload
        assert hpa["metrics"], workload

        pdb = pdbs[workload]["spec"]
        assert pdb["selector"]["matchLabels"] == selector, workload
        if "maxUnavailable" in pdb:
            assert pdb["maxUnavailable"] >= 1, f"{workload}: a drain could never evict a pod"
        else:
            assert pdb["minAvailable"] < hpa["minReplicas"], (
                f"{workload}: a drain could never evict a pod"
            )


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_probes_and_services_point_at_declared_ports(name, rendered):
    objects = rendered[name]
    configmaps = objects_of(objects, "ConfigMap")
    services = objects_of(objects, "Service")
    for workload, deployment in objects_of(objects, "Deployment").items():
        (container,) = pod_spec(deployment)["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = container_env(container, configmaps)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if probe == "startupProbe" and probe not in container:
                continue
            target = container[probe]["httpGet"]
            port = target["port"]
            assert port in ports or port in ports.values(), f"{workload} {probe}: port {port}"
        for port in services[workload]["spec"]["ports"]:
            assert port["targetPort"] in ports, f"{workload} Service: {port['targetPort']}"
        liveness = container["livenessProbe"]["httpGet"]
        readiness = container["readinessProbe"]["httpGet"]
        if workload == "gateway":
            assert ports[liveness["port"]] == int(env["GATEWAY_PORT"]) == 8000
            assert env["GATEWAY_HOST"] == "0.0.0.0"
            assert liveness["path"] == "/metrics"
            assert readiness["path"] in ("/metrics", "/healthz")
        else:
            port = DEFAULT_METRICS_PORTS[workload]
            assert ports[liveness["port"]] == ports[readiness["port"]] == port, workload
            assert int(env[f"{workload.upper()}_METRICS_PORT"]) == port
            assert liveness["path"] == readiness["path"] == "/metrics"


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_every_container_has_requests_within_limits(name, rendered):
    for obj in workloads(rendered[name]):
        for container in containers(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            resources = container["resources"]
            assert cpu(resources["requests"]["cpu"]) <= cpu(resources["limits"]["cpu"]), where
            assert memory(resources["requests"]["memory"]) <= memory(
                resources["limits"]["memory"]
            ), where


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_configmap_and_secret_references_resolve(name, rendered):
    objects = rendered[name]
    configmaps = objects_of(objects, "ConfigMap")
    secrets = secret_keys()
    for obj in workloads(objects):
        spec = pod_spec(obj)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                data = configmaps[volume["configMap"]["name"]]["data"]
                assert all(item["key"] in data for item in volume["configMap"].get("items", []))
            if "secret" in volume:
                keys = secrets[volume["secret"]["secretName"]]
                assert all(item["key"] in keys for item in volume["secret"].get("items", []))
        assert spec["serviceAccountName"] in objects_of(objects, "ServiceAccount")
        for container in containers(obj):
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}"
            defined = set()
            for source in container.get("envFrom", []):
                assert set(source) == {"configMapRef"}, where
                defined |= set(configmaps[source["configMapRef"]["name"]]["data"])
            names = [var["name"] for var in container.get("env", [])]
            assert len(names) == len(set(names)), f"{where}: a variable set twice"
            for var in container.get("env", []):
                value_from = var.get("valueFrom", {})
                if "secretKeyRef" in value_from:
                    ref = value_from["secretKeyRef"]
                    # An optional key (the old token secret while rotating) may be absent.
                    assert ref.get("optional") or ref["key"] in secrets[ref["name"]], where
                elif "configMapKeyRef" in value_from:
                    ref = value_from["configMapKeyRef"]
                    assert ref["key"] in configmaps[ref["name"]]["data"], f"{where}: {ref}"
                else:
                    used = set(re.findall(r"\$\(([A-Za-z0-9_]+)\)", var["value"]))
                    assert used <= defined, f"{where}: {var['name']} uses {used - defined}"
                defined.add(var["name"])


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_every_variable_is_one_the_suite_reads_or_composes(name, rendered):
    known = settings_variables()
    assert {"AMQP_URI", "INTAKE_DATABASE_URL", "HQ_HOLIDAY_FILE", "GATEWAY_PORT"} <= known
    configmaps = objects_of(rendered[name], "ConfigMap")
    environments = [
        (f"{obj['metadata']['name']}/{container['name']}", container_env(container, configmaps))
        for obj in workloads(rendered[name])
        for container in containers(obj)
    ]
    # Variables that only build another one's value (AMQP_URI, <SERVICE>_DATABASE_URL).
    composed = {
        ref
        for _, env in environments
        for value in env.values()
        if value
        for ref in re.findall(r"\$\(([A-Za-z0-9_]+)\)", value)
    }
    assert {"RABBITMQ_HOST", "POSTGRES_HOST", "DB_PASSWORD"} <= composed
    for where, env in environments:
        unknown = set(env) - known - composed
        assert unknown == set(), f"{where}: {unknown}"


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_each_service_reaches_its_own_database_only(name, rendered):
    configmaps = objects_of(rendered[name], "ConfigMap")
    for obj in workloads(rendered[name]):
        workload = obj["metadata"]["labels"]["app.kubernetes.io/name"]
        for container in containers(obj):
            env = container_env(container, configmaps)
            urls = {var: value for var, value in env.items() if var.endswith("_DATABASE_URL")}
            assert list(urls) == [f"{workload.upper()}_DATABASE_URL"], obj["metadata"]["name"]
            secrets = {
                var["valueFrom"]["secretKeyRef"]["name"]
                for var in container["env"]
                if var["name"] in ("DB_USER", "DB_PASSWORD")
            }
            assert secrets == {f"hq-{workload}-db"}
            url = expand(
                urls[f"{workload.upper()}_DATABASE_URL"],
                {**env, "DB_USER": "u", "DB_PASSWORD": "p"},
            )
            assert re.fullmatch(rf"postgresql://u:p@[a-z0-9.-]+:\d+/hq_{workload}", url), url


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_mounted_files_and_writable_directories(name, rendered):
    configmaps = objects_of(rendered[name], "ConfigMap")
    for obj in workloads(rendered[name]):
        volumes = {v["name"]: v for v in pod_spec(obj)["volumes"]}
        for container in containers(obj):
            env = container_env(container, configmaps)
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            where = f"{obj['metadata']['name']}/{container['name']}"
            for var in ("HQ_HOLIDAY_FILE", "HQ_ACCOUNTS_FILE"):
                if var in env:
                    assert str(Path(env[var]).parent) in mounts, f"{where}: {var}"
            assert "emptyDir" in mounts[env["HQ_VAR_DIR"]], where
            assert "emptyDir" in mounts["/tmp"], where


def test_the_holiday_configmap_and_the_example_accounts_parse(tmp_path, rendered):
    holidays = objects_of(rendered["base"], "ConfigMap")["hq-holidays"]["data"]["holidays.json"]
    path = tmp_path / "holidays.json"
    path.write_text(holidays, encoding="utf-8")
    calendar._load(path)
    accounts = json.loads(example_secrets()["hq-gateway-accounts"]["accounts.json"])
    assert isinstance(accounts["accounts"], list)


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_migrations_run_as_jobs_and_never_at_start(name, rendered):
    objects = rendered[name]
    jobs = objects_of(objects, "Job")
    assert set(jobs) == {f"{service}-migrate" for service in SERVICES}
    for service in SERVICES:
        job = jobs[f"{service}-migrate"]
        assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migration"
        assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
        assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["ttlSecondsAfterFinished"] > 0
        commands = [c["command"] for c in containers(job)]
        expected = [["python", "-m", "hqops.cli", "migrate", service]]
        adapters = importlib.import_module(f"services.{service}.adapters")
        if hasattr(adapters, "seed"):
            expected.append(["python", "-m", "hqops.cli", "seed", service])
        assert commands == expected, service
        for command in commands:
            cli_parser().parse_args(command[3:])
    for workload, deployment in objects_of(objects, "Deployment").items():
        (container,) = pod_spec(deployment)["containers"]
        assert "initContainers" not in pod_spec(deployment)
        expected = (
            ["python", "-m", "gateway"]
            if workload == "gateway"
            else ["python", "-m", "hqcore.run", workload]
        )
        assert container["command"] == expected
        assert "args" not in container


@pytest.mark.parametrize("name", list(RENDERINGS))
def test_images_are_pinned(name, rendered):
    images = []
    for obj in rendered[name]:
        if obj["kind"] in ("Deployment", "Job"):
            images += [(c["image"], obj) for c in containers(obj)]
        elif obj["kind"] == "RabbitmqCluster":
            images.append((obj["spec"]["image"], obj))
        elif obj["kind"] == "Cluster":
            images.append((obj["spec"]["imageName"], obj))
    for image, obj in images:
        _, tag, digest = split_image(image)
        assert (tag and tag != "latest") or digest, f"{obj['metadata']['name']}: {image}"
        if obj["kind"] in ("Deployment", "Job"):
            workload = obj["metadata"]["labels"]["app.kubernetes.io/name"]
            assert split_image(image)[0] == f"{IMAGE_REPOSITORY}/{workload}", image


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_sets_every_image_version(overlay):
    kustomization = yaml.safe_load(
        (RENDERINGS[overlay] / "kustomization.yaml").read_text(encoding="utf-8")
    )
    rules = {rule["name"]: rule for rule in kustomization["images"]}
    assert set(rules) == {f"{IMAGE_REPOSITORY}/{w}" for w in WORKLOADS}
    assert all(rule.get("newTag") or rule.get("digest") for rule in rules.values())


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_pods_run_unprivileged(name, rendered):
    for obj in workloads(rendered[name]):
        spec = pod_spec(obj)
        assert spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] > 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        for container in containers(obj):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["readOnlyRootFilesystem"] is True
            assert context["capabilities"] == {"drop": ["ALL"]}


def test_no_secret_values_are_committed(rendered):
    for name, objects in rendered.items():
        assert not [o for o in objects if o["kind"] == "Secret"], name
        for obj in workloads(objects):
            for container in containers(obj):
                for var in container.get("env", []):
                    if re.search(r"PASSWORD|SECRET|TOKEN|KEY", var["name"]):
                        assert "secretKeyRef" in var.get("valueFrom", {}), var["name"]
    for name, data in example_secrets().items():
        for key, value in data.items():
            if re.search(r"password|secret|key", key):
                assert value.startswith("change-me"), f"{name}.{key} looks like a real value"


# --- backing services and overlays -----------------------------------------------------------


@pytest.mark.parametrize("name", OVERLAYS)
def test_rabbitmq_is_a_quorum_cluster_the_suite_points_at(name, rendered):
    objects = rendered[name]
    (rabbit,) = objects_of(objects, "RabbitmqCluster").values()
    replicas = rabbit["spec"]["replicas"]
    assert replicas >= 3 and replicas % 2 == 1
    config = rabbit["spec"]["rabbitmq"]["additionalConfig"].splitlines()
    assert "default_queue_type = quorum" in [line.strip() for line in config]
    configmaps = objects_of(objects, "ConfigMap")
    assert configmaps["hq-config"]["data"]["HQ_QUEUE_TYPE"] == "quorum"
    assert configmaps["hq-endpoints"]["data"]["RABBITMQ_HOST"] == rabbit["metadata"]["name"]
    for deployment in objects_of(objects, "Deployment").values():
        (container,) = pod_spec(deployment)["containers"]
        env = container_env(container, configmaps)
        refs = {
            var["valueFrom"]["secretKeyRef"]["name"]
            for var in container["env"]
            if var["name"] in ("AMQP_USER", "AMQP_PASSWORD")
        }
        assert refs == {f"{rabbit['metadata']['name']}-default-user"}
        uri = expand(env["AMQP_URI"], {**env, "AMQP_USER": "u", "AMQP_PASSWORD": "p"})
        assert uri == f"amqp://u:p@{rabbit['metadata']['name']}:5672//"


@pytest.mark.parametrize("name", OVERLAYS)
def test_postgres_has_one_database_and_owner_per_service(name, rendered):
    objects = rendered[name]
    (cluster,) = objects_of(objects, "Cluster").values()
    cluster_name = cluster["metadata"]["name"]
    configmaps = objects_of(objects, "ConfigMap")
    assert configmaps["hq-endpoints"]["data"]["POSTGRES_HOST"] == f"{cluster_name}-rw"
    roles = {role["name"]: role for role in cluster["spec"]["managed"]["roles"]}
    databases = {d["spec"]["name"]: d["spec"] for d in objects_of(objects, "Database").values()}
    usernames = {name: data.get("username") for name, data in example_secrets().items()}
    assert set(roles) == set(databases) == {f"hq_{owner}" for owner in DATABASE_OWNERS}
    for service in DATABASE_OWNERS:
        role = roles[f"hq_{service}"]
        assert role["ensure"] == "present" and role["login"] is True
        assert role["passwordSecret"]["name"] == f"hq-{service}-db"
        assert usernames[f"hq-{service}-db"] == f"hq_{service}"
        database = databases[f"hq_{service}"]
        assert database["owner"] == f"hq_{service}"
        assert database["cluster"]["name"] == cluster_name
        assert database["databaseReclaimPolicy"] == "retain"
    parameters = cluster["spec"]["postgresql"]["parameters"]
    assert parameters["default_transaction_isolation"] == "read committed"


@pytest.mark.parametrize("name", OVERLAYS)
def test_postgres_accepts_every_pool_at_full_scale(name, rendered):
    objects = rendered[name]
    (cluster,) = objects_of(objects, "Cluster").values()
    hpas = objects_of(objects, "HorizontalPodAutoscaler")
    # The gateway pools as many connections, to its session store.
    needed = sum(hpas[w]["spec"]["maxReplicas"] for w in WORKLOADS) * pool_connections()
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    assert needed + CONNECTION_RESERVE <= max_connections, (needed, max_connections)


def test_the_pilot_is_smaller_than_the_district(rendered):
    pilot, district = rendered["pilot"], rendered["district"]
    pilot_hpas = objects_of(pilot, "HorizontalPodAutoscaler")
    district_hpas = objects_of(district, "HorizontalPodAutoscaler")
    for workload in WORKLOADS:
        assert (
            pilot_hpas[workload]["spec"]["maxReplicas"]
            <= district_hpas[workload]["spec"]["maxReplicas"]
        ), workload
        assert (
            pilot_hpas[workload]["spec"]["minReplicas"]
            <= district_hpas[workload]["spec"]["minReplicas"]
        ), workload
    assert sum(h["spec"]["maxReplicas"] for h in pilot_hpas.values()) < sum(
        h["spec"]["maxReplicas"] for h in district_hpas.values()
    )
    for service in SERVICES:
        assert district_hpas[service]["spec"]["minReplicas"] >= 2, (
            f"{service}: the district keeps two pods through a node's loss"
        )
    (pilot_db,) = objects_of(pilot, "Cluster").values()
    (district_db,) = objects_of(district, "Cluster").values()
    assert pilot_db["spec"]["instances"] < district_db["spec"]["instances"]
    (pilot_ns,) = objects_of(pilot, "Namespace").values()
    reference = json.loads((ROOT / "hqcore" / "data" / "reference.json").read_text("utf-8"))
    pilot_streets = [s["name_en"] for s in reference["streets"] if s.get("pilot")]
    assert len(pilot_streets) == 2
    assert all(
        street in pilot_ns["metadata"]["annotations"]["hongqiao-assist/scope"]
        for street in pilot_streets
    )


@pytest.mark.parametrize("name", OVERLAYS)
def test_each_overlay_is_one_namespace(name, rendered):
    (namespace,) = objects_of(rendered[name], "Namespace").values()
    others = [o for o in rendered[name] if o["kind"] != "Namespace"]
    assert {o["metadata"].get("namespace") for o in others} == {namespace["metadata"]["name"]}
    names = {ns for overlay in OVERLAYS for ns in objects_of(rendered[overlay], "Namespace")}
    assert len(names) == len(OVERLAYS), "each overlay has a namespace of its own"


def test_service_monitors_scrape_every_workload_under_its_name(rendered):
    monitors = objects_of(rendered["district"], "ServiceMonitor").values()
    services = objects_of(rendered["district"], "Service")
    for workload in WORKLOADS:
        service = services[workload]
        scraping = [
            m
            for m in monitors
            if matches(m["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
        ]
        assert len(scraping) == 1, workload
        (monitor,) = scraping
        port_names = {p["name"] for p in service["spec"]["ports"]}
        assert {e["port"] for e in monitor["spec"]["endpoints"]} <= port_names, workload
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
        # The job label is the service name, as in deploy/monitoring/prometheus/prometheus.yml.
        assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == workload


# --- the suite's keys and the gateway's sessions (SEC-3, SEC-14) ----------------------------


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_SEC14_the_gateway_and_every_service_read_the_request_key_from_one_secret(name, rendered):
    deployments = objects_of(rendered[name], "Deployment")
    assert set(deployments) == set(WORKLOADS)
    for workload, deployment in deployments.items():
        (container,) = pod_spec(deployment)["containers"]
        given = [var for var in container["env"] if var["name"] == "HQ_REQUEST_KEY"]
        assert given, f"{workload} gets no HQ_REQUEST_KEY: it would refuse to start"
        (var,) = given
        assert var == {"name": "HQ_REQUEST_KEY", "valueFrom": {"secretKeyRef": REQUEST_KEY_REF}}
    for job in objects_of(rendered[name], "Job").values():
        for container in containers(job):
            names = {var["name"] for var in container.get("env", [])}
            assert "HQ_REQUEST_KEY" not in names, f"{job['metadata']['name']} makes no requests"
    example = example_secrets()[REQUEST_KEY_REF["name"]]
    assert set(example) == {REQUEST_KEY_REF["key"]}
    assert example[REQUEST_KEY_REF["key"]].startswith("change-me")


def test_SEC14_the_readme_tells_operators_to_create_the_request_key():
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `hq-request-key`"))
    assert "`request-key`" in row and "HQ_REQUEST_KEY" in row
    assert "create secret generic hq-request-key --from-literal=request-key=" in readme


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_SEC3_gateway_replicas_share_one_session_database(name, rendered):
    configmaps = objects_of(rendered[name], "ConfigMap")
    gateway = objects_of(rendered[name], "Deployment")["gateway"]
    (container,) = pod_spec(gateway)["containers"]
    env = container_env(container, configmaps)
    refs = {
        var["name"]: var["valueFrom"]["secretKeyRef"]
        for var in container["env"]
        if var["name"] in ("DB_USER", "DB_PASSWORD")
    }
    assert refs == {
        "DB_USER": {"name": "hq-gateway-db", "key": "username"},
        "DB_PASSWORD": {"name": "hq-gateway-db", "key": "password"},
    }
    url = expand(env["GATEWAY_DATABASE_URL"], {**env, "DB_USER": "u", "DB_PASSWORD": "p"})
    # One PostgreSQL database for every replica, never a file in the pod's own emptyDir.
    assert url == "postgresql://u:p@hq-postgres-rw:5432/hq_gateway"
    assert example_secrets()["hq-gateway-db"]["username"] == "hq_gateway"
    hpas = objects_of(rendered[name], "HorizontalPodAutoscaler")
    assert hpas["gateway"]["spec"]["maxReplicas"] >= 2


@pytest.mark.parametrize("name", WITH_WORKLOADS)
def test_SEC3_no_workload_runs_in_demo_mode(name, rendered):
    configmaps = objects_of(rendered[name], "ConfigMap")
    for obj in workloads(rendered[name]):
        for container in containers(obj):
            env = container_env(container, configmaps)
            where = f"{obj['metadata']['name']}/{container['name']}"
            assert "HQ_DEMO" not in env, where
            assert env["HQ_CLOCK_MODE"] == "real", where
            assert "HQ_CLOCK_FILE" not in env, where
    gateway = objects_of(rendered[name], "Deployment")["gateway"]
    (container,) = pod_spec(gateway)["containers"]
    env = container_env(container, configmaps)
    assert env["HQ_ACCOUNTS_FILE"], "outside demo mode the gateway needs its accounts"
    secret = next(var for var in container["env"] if var["name"] == "HQ_GATEWAY_SECRET")
    assert secret["valueFrom"]["secretKeyRef"] == {"name": "hq-gateway", "key": "token-secret"}


def test_SEC3_the_gateway_takes_the_previous_token_secret_from_its_secret_while_rotating(rendered):
    gateway = objects_of(rendered["base"], "Deployment")["gateway"]
    (container,) = pod_spec(gateway)["containers"]
    (var,) = [v for v in container["env"] if v["name"] == "HQ_GATEWAY_SECRET_PREVIOUS"]
    assert var["valueFrom"]["secretKeyRef"] == {
        "name": "hq-gateway",
        "key": "previous-token-secret",
        "optional": True,
    }
    assert "previous-token-secret" not in example_secrets()["hq-gateway"]
