"""Offline checks of deploy/loadgen/, the load generators on Kubernetes (Selenium Grid 4 hub +
Chromium nodes, KEDA selenium-grid scaler): it builds with `kubectl kustomize`, every built-in object
validates strictly against the Kubernetes 1.32 schema, the ScaledObject strictly against KEDA's own
CRD schema (vendored from kedacore/keda v2.20.2), images are pinned to attested tags, every pod
passes the PodSecurity restricted profile, and the wiring holds (scaler <-> hub, slots, anti-affinity
to the bridges, media assembly).

    .cache/venv/bin/python -m pytest tests/deploy -q
"""

from __future__ import annotations

import copy
import functools
import gzip
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

import pss
from checkov_pss import checkov_restricted
from images import ATTESTED, FLOATING

REPO = Path(__file__).resolve().parents[2]
LOADGEN = REPO / "deploy" / "loadgen"
K8S_VERSION = "1.32.0"
NAMESPACE = "loadgen"
KEDA_CRD = Path(__file__).with_name("schemas") / "keda.sh_scaledobjects.yaml"


@functools.lru_cache(maxsize=None)
def rendered(path: Path = LOADGEN) -> tuple[dict, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with kustomize v5) is needed: ./scripts/setup.sh", pytrace=False)
    proc = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KUBECONFIG": os.devnull})
    assert proc.returncode == 0, proc.stderr
    return tuple(d for d in yaml.safe_load_all(proc.stdout) if d)


def one(kind: str, name: str) -> dict:
    found = [o for o in rendered() if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def workloads():
    return [o for o in rendered() if o["kind"] in {"Deployment", "StatefulSet", "DaemonSet"}]


def env_of(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def strict(schema: dict) -> dict:
    """A CRD schema as the API server applies it with strict field validation: unknown fields are
    errors wherever the schema lists properties and does not preserve unknown fields."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node and not node.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                node.setdefault("additionalProperties", False)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(schema)
    return schema


def test_builds_and_validates_strictly():
    kinds = sorted(o["kind"] for o in rendered())
    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Namespace", "ScaledObject", "Service"], kinds
    for o in rendered():
        if o["apiVersion"].startswith("keda.sh/"):
            continue
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        if o["kind"] != "Namespace":
            assert o["metadata"]["namespace"] == NAMESPACE
        assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "loadtest-loadgen"


def test_scaledobject_validates_against_kedas_crd():
    crd = yaml.safe_load("\n".join(KEDA_CRD.read_text().splitlines()[2:]))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = strict(version["schema"]["openAPIV3Schema"])
    so = one("ScaledObject", "selenium-node")
    assert so["apiVersion"] == "keda.sh/v1alpha1"
    jsonschema.validate(so, schema)
    wrong = copy.deepcopy(so)
    wrong["spec"]["maxReplicas"] = 3  # HPA spelling, not KEDA's
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, schema)


def test_images_pinned_to_attested_tags():
    docs_text = (REPO / "docs" / "deploy.md").read_text()
    for o in workloads():
        spec = o["spec"]["template"]["spec"]
        for c in spec.get("initContainers", []) + spec["containers"]:
            tag = c["image"].rsplit("/", 1)[-1].partition(":")[2]
            assert tag not in FLOATING, c["image"]
            assert c["image"] in ATTESTED, f"{c['image']}: not an attested tag (tests/deploy/images.py)"
            assert c["image"] in docs_text


def test_every_pod_passes_the_restricted_profile():
    ns = one("Namespace", NAMESPACE)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for o in workloads():
        tmpl = o["spec"]["template"]
        assert pss.violations(tmpl["spec"], tmpl["metadata"].get("annotations")) == [], o["metadata"]["name"]
    checkov_restricted(rendered())


def test_scaler_reads_the_hub_and_matches_the_node_slots():
    so = one("ScaledObject", "selenium-node")
    node = one("Deployment", "selenium-node")
    hub_svc = one("Service", "selenium-hub")
    assert so["spec"]["scaleTargetRef"]["name"] == node["metadata"]["name"]
    (trigger,) = so["spec"]["triggers"]
    assert trigger["type"] == "selenium-grid"
    meta = trigger["metadata"]
    port = next(p["port"] for p in hub_svc["spec"]["ports"] if p["name"] == "http")
    assert meta["url"] == f"http://selenium-hub.{NAMESPACE}.svc.cluster.local:{port}/graphql"
    assert meta["browserName"] == "chrome", "loadtest asks for browserName chrome"
    (ctr,) = node["spec"]["template"]["spec"]["containers"]
    env = env_of(ctr)
    assert meta["nodeMaxSessions"] == env["SE_NODE_MAX_SESSIONS"], "scaler and node must agree on slots"
    assert env["SE_NODE_OVERRIDE_MAX_SESSIONS"] == "true"
    assert env["SE_EVENT_BUS_HOST"] == hub_svc["metadata"]["name"]
    ports = {p["name"]: p["port"] for p in hub_svc["spec"]["ports"]}
    assert (env["SE_EVENT_BUS_PUBLISH_PORT"], env["SE_EVENT_BUS_SUBSCRIBE_PORT"]) == (
        str(ports["publish"]), str(ports["subscribe"]))
    assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"]
    assert "replicas" not in node["spec"], "KEDA owns the replicas"


def test_node_size_follows_the_measured_cost():
    """Slots per core of the base = the "small" preset's 8 participants per core measured in
    docs/benchmarks.md; requests = limits (Guaranteed QoS)."""
    bench = (REPO / "docs" / "benchmarks.md").read_text()
    assert "(8 per core" in bench
    node = one("Deployment", "selenium-node")
    (ctr,) = node["spec"]["template"]["spec"]["containers"]
    res = ctr["resources"]
    assert res["requests"] == res["limits"]
    assert int(env_of(ctr)["SE_NODE_MAX_SESSIONS"]) == 8 * int(res["requests"]["cpu"])


def test_nodes_stay_away_from_the_bridges():
    spec = one("Deployment", "selenium-node")["spec"]["template"]["spec"]
    (term,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "jvb"}
    assert term["namespaceSelector"] == {}, "the bridges live in another namespace (jitsi)"
    jvb_labels = [
        o["spec"]["template"]["metadata"]["labels"]
        for o in yaml.safe_load_all((REPO / "deploy/base/shard/jvb.yaml").read_text())
        if o and o["kind"] == "StatefulSet"
    ]
    assert jvb_labels and jvb_labels[0]["app.kubernetes.io/name"] == "jvb"


def test_media_is_assembled_from_chunks_and_checked(tmp_path):
    """assemble-media.sh (the init container) on chunks cut the way the tool cuts them."""
    node = one("Deployment", "selenium-node")["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in node["containers"][0]["volumeMounts"]}
    assert mounts["media"] == "/opt/loadtest/media", "inventory media_dir"
    assert mounts["dshm"] == "/dev/shm"
    script = LOADGEN / "scripts" / "assemble-media.sh"
    src, dst = tmp_path / "src", tmp_path / "dst"
    src.mkdir()
    dst.mkdir()
    data = bytes(range(256)) * 4096 + b"tail"
    packed = gzip.compress(data)
    for i in range(0, len(packed), 700):
        (src / f"video-x.y4m.gz.{i // 700:03d}").write_bytes(packed[i:i + 700])
    env = {**os.environ, "MEDIA_SRC": str(src), "MEDIA_DIR": str(dst)}
    res = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert (dst / "video-x.y4m").read_bytes() == data
    # A damaged chunk, and a missing one, are refused (gzip's CRC-32 and length).
    chunk = src / "video-x.y4m.gz.001"
    good = chunk.read_bytes()
    chunk.write_bytes(bytes([good[0] ^ 0xFF]) + good[1:])
    res = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "damaged or incomplete" in res.stderr
    chunk.write_bytes(good)
    last = sorted(src.iterdir())[-1]
    last.unlink()
    res = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)
    assert res.returncode != 0 and "damaged or incomplete" in res.stderr
    # Nothing shipped: nothing to do.
    empty = tmp_path / "empty"
    empty.mkdir()
    res = subprocess.run(["sh", str(script)], env={**env, "MEDIA_SRC": str(empty)}, capture_output=True, text=True)
    assert res.returncode == 0 and "built-in fake devices" in res.stdout
