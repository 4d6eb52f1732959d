"""Offline validation of the Kubernetes manifests in deploy/.

For each environment overlay (development, production) this renders
`kubectl kustomize deploy/overlays/<env>` and checks

* every built-in object against the Kubernetes 1.32 OpenAPI schema
  (kubernetes-validate, strict: unknown fields are errors),
* CRD objects (PodMonitor) by hand,
* the structure the `loadtest` tool relies on: label contract, shards, JVB
  StatefulSet / graceful shutdown / readiness / metrics, HPA, per-bridge UDP
  NodePorts (30300 + 100*k + i), HAProxy room stickiness, pinned images,
  dev/prod sizing, no remote bases.

Needs: kubectl (with kustomize v5) on PATH, Python packages pyyaml, pytest,
kubernetes-validate==1.37.0. No cluster and no network access needed.

    .cache/venv/bin/python -m pytest tests/deploy -q
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

import pss
from checkov_pss import checkov_restricted
from images import ATTESTED, FLOATING

try:
    import kubernetes_validate
except ImportError as exc:  # fail loudly: a skipped validation is no validation
    raise ImportError(
        "tests/deploy needs kubernetes-validate: pip install kubernetes-validate==1.37.0 pyyaml pytest"
    ) from exc

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
ENVS = ("development", "production")
K8S_VERSION = "1.32.0"
SHARDS = ("shard-0", "shard-1")
NAMESPACE = "jitsi"
PART_OF = ("app.kubernetes.io/part-of", "jitsi-meet")
NAME_LABEL = "app.kubernetes.io/name"
SHARD_LABEL = "loadtest.io/shard"
COMPONENTS = {"web", "prosody", "jicofo", "jvb", "haproxy"}
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
# Kinds served by CRDs: no OpenAPI schema in kubernetes-validate, checked by hand.
CRD_GROUPS = {"monitoring.coreos.com"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}


def port_base(shard: str) -> int:
    return 30300 + 100 * int(shard.rsplit("-", 1)[1])


# --------------------------------------------------------------------------- build


@functools.lru_cache(maxsize=None)
def _kubectl() -> str:
    exe = shutil.which("kubectl")
    if exe is None:
        pytest.fail(
            "kubectl not found on PATH: these tests render the manifests with "
            "`kubectl kustomize` (kubectl >= 1.27, built-in kustomize v5). "
            "Install kubectl and re-run.",
            pytrace=False,
        )
    return exe


@functools.lru_cache(maxsize=None)
def _render(env: str) -> tuple[tuple[dict, ...], str]:
    proc = subprocess.run(
        [_kubectl(), "kustomize", str(DEPLOY / "overlays" / env)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    if proc.returncode != 0:
        pytest.fail(
            f"kubectl kustomize deploy/overlays/{env} failed (rc {proc.returncode}):\n{proc.stderr}",
            pytrace=False,
        )
    docs = tuple(d for d in yaml.safe_load_all(proc.stdout) if d)
    return docs, proc.stderr


@pytest.fixture(params=ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture
def objs(env) -> list[dict]:
    return list(_render(env)[0])


def find(objs, kind, name=None, prefix=None):
    out = [o for o in objs if o["kind"] == kind]
    if name is not None:
        out = [o for o in out if o["metadata"]["name"] == name]
    if prefix is not None:
        out = [o for o in out if o["metadata"]["name"].startswith(prefix)]
    return out


def one(objs, kind, name):
    found = find(objs, kind, name)
    assert len(found) == 1, f"expected exactly one {kind} {name!r}, found {len(found)}"
    return found[0]


def labels(obj) -> dict:
    return obj.get("metadata", {}).get("labels") or {}


def pod_spec(obj) -> dict | None:
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def containers(obj, init=True):
    spec = pod_spec(obj) or {}
    out = list(spec.get("containers", []))
    if init:
        out += spec.get("initContainers", [])
    return out


def container(obj, name):
    matches = [c for c in containers(obj, init=False) if c["name"] == name]
    assert len(matches) == 1, f"{obj['metadata']['name']}: no single container named {name!r}"
    return matches[0]


def configmap_by_ref(objs, name) -> dict:
    return one(objs, "ConfigMap", name)


def effective_env(objs, ctr) -> dict[str, str]:
    """Env of a container as the kubelet sees it: envFrom ConfigMaps, then env values."""
    out: dict[str, str] = {}
    for src in ctr.get("envFrom", []):
        if "configMapRef" in src:
            out.update(configmap_by_ref(objs, src["configMapRef"]["name"]).get("data", {}))
    for e in ctr.get("env", []):
        if "value" in e:
            out[e["name"]] = e["value"]
        else:
            out[e["name"]] = e.get("valueFrom")
    return out


def shard_of(obj) -> str | None:
    m = re.match(r"^(shard-\d+)-", obj["metadata"]["name"])
    return m.group(1) if m else None


def haproxy_config(objs) -> dict[str, str]:
    cms = [o for o in find(objs, "ConfigMap") if o["metadata"]["name"].startswith("haproxy-config")]
    assert len(cms) == 1, "expected one haproxy-config ConfigMap"
    return cms[0]["data"]


# --------------------------------------------------------------------------- tests


def test_build_is_clean(env):
    docs, stderr = _render(env)
    assert docs, "empty build"
    assert "deprecated" not in stderr.lower(), f"kustomize warnings:\n{stderr}"
    for o in docs:
        assert {"apiVersion", "kind", "metadata"} <= o.keys(), o


def test_builtin_objects_validate_strict(objs):
    errors = []
    for o in objs:
        group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
        if group in CRD_GROUPS:
            continue
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: no schema ({exc}); CRD kinds must be checked by hand")
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path)
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {path}: {exc.message}")
    assert not errors, "schema validation failed:\n" + "\n".join(errors)


def test_crd_objects_by_hand(objs):
    crds = [o for o in objs if o["apiVersion"].split("/")[0] in CRD_GROUPS]
    assert {o["kind"] for o in crds} <= {"PodMonitor"}, "unexpected CRD kinds: add hand checks"
    pms = find(objs, "PodMonitor")
    assert {shard_of(p) for p in pms} == set(SHARDS), "one PodMonitor per shard expected"
    for pm in pms:
        shard = shard_of(pm)
        assert pm["apiVersion"] == "monitoring.coreos.com/v1"
        assert set(pm.keys()) <= {"apiVersion", "kind", "metadata", "spec"}
        spec = pm["spec"]
        assert set(spec) <= {
            "selector", "podMetricsEndpoints", "podTargetLabels", "namespaceSelector",
            "jobLabel", "sampleLimit", "targetLimit",
        }, f"unknown PodMonitor spec fields: {set(spec)}"
        sel = spec["selector"]["matchLabels"]
        assert sel.get(NAME_LABEL) == "jvb"
        assert sel.get(SHARD_LABEL) == shard, "PodMonitor must only select its own shard's JVBs"
        eps = spec["podMetricsEndpoints"]
        assert eps and all(ep.get("path") == "/metrics" for ep in eps)
        # The endpoint's named port must be the JVB's 8080 private HTTP port.
        jvb = container(one(objs, "StatefulSet", f"{shard}-jvb"), "jvb")
        ports = {p["name"]: p["containerPort"] for p in jvb["ports"] if "name" in p}
        for ep in eps:
            assert ports.get(ep.get("port")) == 8080, f"PodMonitor port {ep.get('port')!r} is not JVB :8080"
        # selector really matches the JVB pods
        tmpl_labels = one(objs, "StatefulSet", f"{shard}-jvb")["spec"]["template"]["metadata"]["labels"]
        assert sel.items() <= tmpl_labels.items()


def test_label_contract(objs):
    assert find(objs, "Namespace", NAMESPACE), "Namespace jitsi missing"
    for o in objs:
        ident = f"{o['kind']}/{o['metadata']['name']}"
        assert labels(o).get(PART_OF[0]) == PART_OF[1], f"{ident}: missing {PART_OF[0]}={PART_OF[1]}"
        if o["kind"] not in CLUSTER_SCOPED:
            assert o["metadata"].get("namespace") == NAMESPACE, f"{ident}: not in namespace {NAMESPACE}"
        name_label = labels(o).get(NAME_LABEL)
        if name_label is not None:
            assert name_label in COMPONENTS, f"{ident}: unknown component {name_label!r}"
        shard = shard_of(o)
        if shard is not None:
            assert labels(o).get(SHARD_LABEL) == shard, f"{ident}: needs {SHARD_LABEL}={shard}"
        elif SHARD_LABEL in labels(o):
            pytest.fail(f"{ident}: has a shard label but no shard-<k>- name prefix")
        if o["kind"] in WORKLOAD_KINDS:
            assert name_label in COMPONENTS, f"{ident}: workloads need {NAME_LABEL}"
            tl = o["spec"]["template"]["metadata"]["labels"]
            assert tl.get(NAME_LABEL) == name_label, f"{ident}: pod template {NAME_LABEL}"
            assert tl.get(PART_OF[0]) == PART_OF[1], f"{ident}: pod template part-of"
            if shard:
                assert tl.get(SHARD_LABEL) == shard, f"{ident}: pod template shard label"
                assert o["spec"]["selector"]["matchLabels"].get(SHARD_LABEL) == shard, (
                    f"{ident}: selector must be shard-scoped"
                )
    for shard in SHARDS:
        for svc in find(objs, "Service", prefix=f"{shard}-"):
            assert svc["spec"]["selector"].get(SHARD_LABEL) == shard, (
                f"Service {svc['metadata']['name']} would select pods of other shards"
            )


def test_two_shards_with_all_components(objs):
    shards = {labels(o).get(SHARD_LABEL) for o in objs} - {None}
    assert shards == set(SHARDS)
    for shard in SHARDS:
        for comp in ("web", "prosody", "jicofo"):
            dep = one(objs, "Deployment", f"{shard}-{comp}")
            assert labels(dep)[NAME_LABEL] == comp
            container(dep, comp)
            svc = one(objs, "Service", f"{shard}-{comp}")
            assert svc["spec"]["selector"][NAME_LABEL] == comp
        env = effective_env(objs, container(one(objs, "Deployment", f"{shard}-jicofo"), "jicofo"))
        assert env["XMPP_SERVER"] == f"{shard}-prosody", "jicofo must talk to its own shard's prosody"
        web_env = effective_env(objs, container(one(objs, "Deployment", f"{shard}-web"), "web"))
        assert web_env["XMPP_BOSH_URL_BASE"].startswith(f"http://{shard}-prosody."), web_env["XMPP_BOSH_URL_BASE"]
        assert web_env.get("DEPLOYMENTINFO_SHARD") == shard


def test_jvb_statefulset(objs):
    for shard in SHARDS:
        sts = one(objs, "StatefulSet", f"{shard}-jvb")
        assert labels(sts)[NAME_LABEL] == "jvb"
        assert labels(sts)[SHARD_LABEL] == shard
        assert "replicas" not in sts["spec"], "the HPA owns spec.replicas"
        headless = one(objs, "Service", sts["spec"]["serviceName"])
        assert headless["spec"].get("clusterIP") == "None"
        pod = sts["spec"]["template"]
        jvb = container(sts, "jvb")
        assert re.search(r"(^|/)jitsi/jvb:stable-\d+", jvb["image"]), jvb["image"]

        probe = jvb["readinessProbe"]["httpGet"]
        assert probe["path"] == "/about/health"
        assert probe["port"] in (8080, "http")
        assert {p["containerPort"] for p in jvb["ports"]} >= {8080}

        # Graceful shutdown: preStop posts to /colibri/shutdown and waits.
        pre = jvb["lifecycle"]["preStop"]
        text = " ".join(pre.get("exec", {}).get("command", []))
        script_names = re.findall(r"/opt/loadtest/([\w.-]+)", text)
        mounts = {m["mountPath"]: m["name"] for m in jvb.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod["spec"].get("volumes", [])}
        for name in script_names:
            cm = configmap_by_ref(objs, vols[mounts["/opt/loadtest"]]["configMap"]["name"])
            text += "\n" + cm["data"][name]
        assert "http://127.0.0.1:8080/colibri/shutdown" in text or (
            "127.0.0.1:8080" in text and "/colibri/shutdown" in text
        )
        assert '"graceful-shutdown": true' in text
        assert "/colibri/stats" in text and "conferences" in text, "preStop must wait for conferences to end"
        assert pod["spec"].get("terminationGracePeriodSeconds", 30) >= 300

        # Metrics: Prometheus annotations + REST APIs enabled.
        ann = pod["metadata"].get("annotations", {})
        assert ann.get("prometheus.io/scrape") == "true"
        assert ann.get("prometheus.io/port") == "8080"
        assert ann.get("prometheus.io/path") == "/metrics"
        env = effective_env(objs, jvb)
        assert env.get("COLIBRI_REST_ENABLED") == "true"
        assert env.get("SHUTDOWN_REST_ENABLED") == "true"
        assert env.get("POD_NAME") == {"fieldRef": {"fieldPath": "metadata.name"}}
        assert env.get("JVB_PORT_BASE") == str(port_base(shard))
        assert env.get("XMPP_SERVER") == f"{shard}-prosody"
        assert "JVB_PORT" not in env, "JVB_PORT is derived per pod, it must not be fixed"


def test_no_colibri_websockets(objs):
    """stable-11146 removed colibri websockets (docker-jitsi-meet #2285): no port 9090, no leftover settings."""
    for o in objs:
        for c in containers(o):
            assert all(p.get("containerPort") != 9090 for p in c.get("ports", [])), o["metadata"]["name"]
        for p in (o.get("spec") or {}).get("ports", []) if o["kind"] == "Service" else []:
            assert p["port"] != 9090, o["metadata"]["name"]
        if o["kind"] == "ConfigMap":
            stale = {"ENABLE_COLIBRI_WEBSOCKET", "COLIBRI_WEBSOCKET_REGEX", "JVB_WS_SERVER_ID", "ENABLE_OCTO"}
            assert not stale & set(o.get("data", {})), o["metadata"]["name"]


def test_jvb_entrypoint_derives_port_from_ordinal(objs, tmp_path):
    sts = one(objs, "StatefulSet", "shard-1-jvb")
    jvb = container(sts, "jvb")
    vols = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    cm = configmap_by_ref(objs, vols["jvb-scripts"]["configMap"]["name"])
    entry = jvb["command"][-1].rsplit("/", 1)[1]
    script = cm["data"][entry]
    assert "exec /init" in script, "wrapper must hand over to the image entrypoint"
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX sh")
    for name, text in cm["data"].items():
        if name.endswith(".sh"):
            res = subprocess.run([sh, "-n"], input=text, capture_output=True, text=True)
            assert res.returncode == 0, f"{name}: {res.stderr}"
    probe = tmp_path / "entry.sh"
    probe.write_text(script.replace('exec /init "$@"', 'echo "PORT=$JVB_PORT ADV=$JVB_ADVERTISE_IPS"'))
    external = tmp_path / "external-ip"
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "JVB_AUTH_PASSWORD": "x", "NODE_IP": "10.0.0.7",
        "NODE_ADDRESS_FILE": str(external),
    }
    pod = {"POD_NAME": "shard-1-jvb-3", "JVB_PORT_BASE": "30400", "POD_NAMESPACE": "jitsi"}

    def advertised(**extra):
        res = subprocess.run([sh, str(probe)], capture_output=True, text=True, env={**base_env, **pod, **extra})
        assert res.returncode == 0, res.stderr
        assert "PORT=30403 " in res.stdout
        return res.stdout.split("ADV=")[1].split()[0], res.stderr

    # No ExternalIP found by the init container: the node's hostIP, with a warning.
    adv, err = advertised()
    assert adv == "10.0.0.7" and "no ExternalIP" in err
    # The node's ExternalIP (written by node-address) wins over hostIP ...
    external.write_text("198.51.100.23\n")
    assert advertised()[0] == "198.51.100.23", "the bridge must advertise its node's external address"
    # ... and JVB_ADVERTISE_IPS (1:1 NAT) over both.
    assert advertised(JVB_ADVERTISE_IPS="203.0.113.5")[0] == "203.0.113.5"
    res = subprocess.run(
        [sh, str(probe)], capture_output=True, text=True,
        env={**base_env, "POD_NAME": "shard-1-jvb-3", "JVB_PORT_BASE": "30400", "JVB_AUTH_PASSWORD": "CHANGE-ME"},
    )
    assert res.returncode != 0, "placeholder secret must be refused"


def test_jvb_hpa(objs):
    for shard in SHARDS:
        hpas = [h for h in find(objs, "HorizontalPodAutoscaler") if shard_of(h) == shard]
        assert len(hpas) == 1
        hpa = hpas[0]
        assert hpa["apiVersion"] == "autoscaling/v2"
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["kind"], ref["name"]) == ("StatefulSet", f"{shard}-jvb")
        assert ref["apiVersion"] == "apps/v1"
        metrics = hpa["spec"]["metrics"]
        assert any(
            m["type"] == "Resource" and m["resource"]["name"] == "cpu"
            and m["resource"]["target"]["type"] == "Utilization"
            for m in metrics
        )
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= 100
        jvb = container(one(objs, "StatefulSet", f"{shard}-jvb"), "jvb")
        assert "cpu" in jvb["resources"]["requests"], "CPU utilisation needs CPU requests"


def test_jvb_nodeports(objs):
    all_node_ports: list[tuple[int, str]] = []
    for svc in find(objs, "Service"):
        for p in svc["spec"].get("ports", []):
            if "nodePort" in p:
                all_node_ports.append((p["nodePort"], svc["metadata"]["name"]))
    seen: dict[int, str] = {}
    for port, name in all_node_ports:
        assert port not in seen, f"nodePort {port} used by {seen[port]} and {name}"
        assert 30000 <= port <= 32767, f"{name}: nodePort {port} outside the default range"
        seen[port] = name

    for shard in SHARDS:
        base = port_base(shard)
        hpa = [h for h in find(objs, "HorizontalPodAutoscaler") if shard_of(h) == shard][0]
        ordinals = set()
        for svc in find(objs, "Service", prefix=f"{shard}-"):
            if svc["spec"].get("type") != "NodePort":
                continue
            sel = svc["spec"]["selector"]
            m = re.fullmatch(rf"{shard}-jvb-(\d+)", sel.get(POD_NAME_LABEL, ""))
            assert m, f"{svc['metadata']['name']}: must select one bridge via {POD_NAME_LABEL}"
            i = int(m.group(1))
            assert sel.get(NAME_LABEL) == "jvb"
            (port,) = svc["spec"]["ports"]
            assert port["protocol"] == "UDP"
            assert port["nodePort"] == port["port"] == port["targetPort"] == base + i, (
                f"{svc['metadata']['name']}: expected {base + i} everywhere, got {port}"
            )
            assert base <= port["nodePort"] < base + 100
            assert i not in ordinals
            ordinals.add(i)
        # One slot per possible bridge, without gaps; more slots than maxReplicas are allowed
        # (`loadtest deploy scale` never removes the port of a bridge that may still be draining).
        assert ordinals == set(range(len(ordinals))) and len(ordinals) >= hpa["spec"]["maxReplicas"], (
            f"{shard}: need one NodePort Service per possible bridge 0..{hpa['spec']['maxReplicas'] - 1}, "
            f"have {sorted(ordinals)}"
        )
    first = sorted(p for p, n in all_node_ports if n.startswith("shard-0-"))
    second = sorted(p for p, n in all_node_ports if n.startswith("shard-1-"))
    assert first[0] == 30300 and second[0] == 30400


def test_haproxy_routes_rooms_to_one_shard(objs):
    cfg = haproxy_config(objs)
    text = "\n".join(cfg.values())
    assert re.search(r"^peers\s+\S+", text, re.M), "peers section missing"
    assert "stick-table" in text
    assert re.search(r"stick on .*urlp\(room\)", text), "must stick on the room URL parameter"

    sts = one(objs, "StatefulSet", "haproxy")
    assert labels(sts)[NAME_LABEL] == "haproxy"
    headless = one(objs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"].get("clusterIP") == "None"
    replicas = sts["spec"]["replicas"]
    peers = re.findall(r"^\s*peer\s+(\S+)\s+(\S+):\d+", text, re.M)
    assert [p for p, _ in peers] == [f"haproxy-{i}" for i in range(replicas)], "peer list != pods"
    for _, host in peers:
        assert host.split(".")[1] == headless["metadata"]["name"]
    hap = container(sts, "haproxy")
    args = hap.get("command", []) + hap.get("args", [])
    mounted = [a.rsplit("/", 1)[1] for a in args if a.startswith("/usr/local/etc/haproxy/")]
    assert set(mounted) == set(cfg), "haproxy must load every config file of the ConfigMap"

    backends = cfg["backends.cfg"]
    m = re.search(r"# BEGIN shards\n(.*?)\n\s*# END shards", backends, re.S)
    assert m, "backends.cfg needs '# BEGIN shards' / '# END shards' markers"
    servers = re.findall(r"^\s*server\s+(\S+)\s+([\w.-]+):(\d+)(.*)$", m.group(1), re.M)
    assert sorted(s[0] for s in servers) == list(SHARDS)
    ids = [re.search(r"\bid\s+(\d+)", s[3]) for s in servers]
    assert all(ids) and len({i.group(1) for i in ids}) == len(ids), "servers need fixed, unique ids"
    for name, host, port, _ in servers:
        svc = one(objs, "Service", host.split(".")[0])
        assert shard_of(svc) == name
        assert int(port) in {p["port"] for p in svc["spec"]["ports"]}
        assert svc["spec"]["selector"][NAME_LABEL] == "web"
    front = one(objs, "Service", "web")
    assert front["spec"]["selector"] == {NAME_LABEL: "haproxy"}


def test_images_pinned_to_attested_tags(objs):
    """Every image is one whose tag was verified upstream (tests/deploy/images.py, repeated with
    the sources in docs/deploy.md); all Jitsi components run one release."""
    jitsi_tags = set()
    docs_text = (REPO / "docs" / "deploy.md").read_text()
    for o in objs:
        for c in containers(o):
            image = c["image"]
            ident = f"{o['metadata']['name']}/{c['name']}: {image}"
            tag = image.rsplit("/", 1)[-1].partition(":")[2].split("@")[0]
            assert tag not in FLOATING, f"floating tag {ident}"
            assert image in ATTESTED, f"{ident}: not an attested tag (tests/deploy/images.py)"
            assert image in docs_text, f"{ident}: docs/deploy.md must say where it was verified"
            m = re.fullmatch(r"(?:[\w.-]+/)?jitsi/(web|prosody|jicofo|jvb):(stable-\d+(?:-\d+)?)", image)
            if "jitsi/" in image:
                assert m, f"jitsi images must use a stable-NNNN tag: {ident}"
                jitsi_tags.add(m.group(2))
    assert len(jitsi_tags) == 1, f"all Jitsi components must run the same release, got {jitsi_tags}"


def test_s6_images_have_a_memory_run(objs):
    """The rootless images keep s6-overlay's state under /run: a memory-backed emptyDir there, in
    every container of web, prosody, jicofo and jvb (init containers included)."""
    seen = set()
    for o in objs:
        spec = pod_spec(o)
        if spec is None:
            continue
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for c in containers(o):
            if "/jitsi/" not in c["image"] or c["name"] == "node-address":
                continue
            mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
            assert "/run" in mounts, f"{o['metadata']['name']}/{c['name']}: nothing mounted at /run"
            vol = vols[mounts["/run"]]
            assert vol.get("emptyDir", {}).get("medium") == "Memory", f"{o['metadata']['name']}: {vol}"
            seen.add(labels(o)[NAME_LABEL])
            env = effective_env(objs, c)
            assert env.get("S6_YES_I_WANT_A_WORLD_WRITABLE_RUN_BECAUSE_KUBERNETES") == "1"
    assert seen == {"web", "prosody", "jicofo", "jvb"}


def test_pss_checker_rejects_what_it_must():
    pss.selftest()


def test_every_pod_passes_the_restricted_profile(objs):
    """PodSecurity "restricted" (tests/deploy/pss.py, written from the documented rules)."""
    bad = {}
    for o in objs:
        spec = pod_spec(o)
        if spec is not None:
            found = pss.violations(spec, o["spec"]["template"]["metadata"].get("annotations"))
            if found:
                bad[f"{o['kind']}/{o['metadata']['name']}"] = found
    assert not bad, bad


def test_restricted_profile_with_checkov(env):
    """The same profile checked by a maintained tool: checkov's Kubernetes checks that correspond
    to the restricted rules (the others, such as image digests or read-only root filesystems, are
    not part of the profile)."""
    checkov_restricted(_render(env)[0])


def test_no_dead_variables(objs):
    """Variables no image reads at this release are gone (JICOFO_AUTH_USER was dropped upstream,
    SHARD_NAME never read)."""
    for o in find(objs, "ConfigMap"):
        dead = {"JICOFO_AUTH_USER", "SHARD_NAME"} & set(o.get("data", {}))
        assert not dead, f"{o['metadata']['name']}: {dead}"


def test_bridges_advertise_the_node_external_address(objs):
    """status.hostIP is private on managed clusters: an init container reads the node's ExternalIP
    with a ServiceAccount allowed to get nodes, nothing more."""
    for shard in SHARDS:
        sts = one(objs, "StatefulSet", f"{shard}-jvb")
        spec = pod_spec(sts)
        (init,) = [c for c in spec["initContainers"] if c["name"] == "node-address"]
        env = {e["name"]: e.get("valueFrom") for e in init["env"]}
        assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
        jvb = container(sts, "jvb")
        shared = {m["name"] for m in init["volumeMounts"]} & {m["name"] for m in jvb["volumeMounts"]}
        assert "node-address" in shared, "the init container hands the address over in a shared volume"
        sa = spec["serviceAccountName"]
        one(objs, "ServiceAccount", sa)
        # The token goes to the init container only, not to the bridge.
        assert spec["automountServiceAccountToken"] is False
        token = "/var/run/secrets/kubernetes.io/serviceaccount"
        assert token in {m["mountPath"] for m in init["volumeMounts"]}
        assert token not in {m["mountPath"] for m in jvb["volumeMounts"]}
        bindings = [
            b for b in find(objs, "ClusterRoleBinding")
            if any(s["kind"] == "ServiceAccount" and s["name"] == sa and s["namespace"] == NAMESPACE
                   for s in b["subjects"])
        ]
        assert len(bindings) == 1, f"{sa}: one ClusterRoleBinding expected"
        role = one(objs, "ClusterRole", bindings[0]["roleRef"]["name"])
        assert role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get"]}], role
    for o in objs:
        spec = pod_spec(o)
        if spec is not None and labels(o).get(NAME_LABEL) != "jvb":
            assert "serviceAccountName" not in spec, f"{o['metadata']['name']}: only the bridges need the API"


def test_node_address_lookup(objs, tmp_path):
    """jvb-node-address.sh against a FIXTURE API answer (a stand-in curl printing a Node object with
    the API's field names) and real jq: ExternalIP written, none -> nothing written."""
    sts = one(objs, "StatefulSet", "shard-0-jvb")
    vols = {v["name"]: v for v in pod_spec(sts)["volumes"]}
    script = configmap_by_ref(objs, vols["jvb-scripts"]["configMap"]["name"])["data"]["jvb-node-address.sh"]
    if not (shutil.which("jq") and shutil.which("sh")):
        pytest.fail("jq and sh are needed (./scripts/setup.sh installs jq)", pytrace=False)
    (tmp_path / "script.sh").write_text(script)
    sa = tmp_path / "sa"
    sa.mkdir()
    (sa / "token").write_text("fixture-token")
    (sa / "ca.crt").write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    node = tmp_path / "node.json"
    curl = bin_dir / "curl"
    curl.write_text(f'#!/bin/sh\n# FIXTURE for the API server: prints a Node\ncat "{node}"\n')
    curl.chmod(0o755)
    out = tmp_path / "external-ip"
    env = {
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}", "NODE_NAME": "pool-a-1",
        "SERVICEACCOUNT_DIR": str(sa), "NODE_ADDRESS_FILE": str(out),
    }
    addresses = [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "ExternalIP", "address": "198.51.100.23"},
                 {"type": "Hostname", "address": "pool-a-1"}]
    node.write_text(json.dumps({"kind": "Node", "metadata": {"name": "pool-a-1"}, "status": {"addresses": addresses}}))
    res = subprocess.run(["sh", str(tmp_path / "script.sh")], env=env, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert out.read_text().strip() == "198.51.100.23"
    node.write_text(json.dumps({"kind": "Node", "status": {"addresses": addresses[:1]}}))
    res = subprocess.run(["sh", str(tmp_path / "script.sh")], env=env, capture_output=True, text=True)
    assert res.returncode == 0 and out.read_text() == "", res.stderr
    assert "no ExternalIP" in res.stderr


def _jvb_limits(env):
    docs, _ = _render(env)
    out = {}
    for shard in SHARDS:
        jvb = container(one(docs, "StatefulSet", f"{shard}-jvb"), "jvb")
        out[shard] = jvb["resources"]["limits"]
    return out


def _quantity(q) -> float:
    q = str(q)
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if q.endswith(suffix):
            return float(q[: -len(suffix)]) * factor
    return float(q)


def test_dev_and_prod_sizing_differ():
    dev, prod = _jvb_limits("development"), _jvb_limits("production")
    for shard in SHARDS:
        assert dev[shard] != prod[shard], f"{shard}: JVB limits identical in dev and prod"
        assert _quantity(prod[shard]["cpu"]) >= _quantity(dev[shard]["cpu"])
        assert _quantity(prod[shard]["memory"]) >= _quantity(dev[shard]["memory"])


def test_memory_limits_leave_room_for_heap(objs):
    for shard in SHARDS:
        jvb = container(one(objs, "StatefulSet", f"{shard}-jvb"), "jvb")
        heap = effective_env(objs, jvb)["VIDEOBRIDGE_MAX_MEMORY"]
        assert re.fullmatch(r"\d+[mg]", heap)
        heap_bytes = int(heap[:-1]) * (2**20 if heap.endswith("m") else 2**30)
        assert heap_bytes <= 0.8 * _quantity(jvb["resources"]["limits"]["memory"]), f"{shard}: heap {heap} too big"


def test_references_resolve(objs):
    cm_names = {o["metadata"]["name"] for o in find(objs, "ConfigMap")}
    template = yaml.safe_load((DEPLOY / "base/jitsi/secrets.template.yaml").read_text())
    secret_keys = set(template["stringData"])
    for o in objs:
        spec = pod_spec(o)
        if spec is None:
            continue
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert v["configMap"]["name"] in cm_names, f"{o['metadata']['name']}: {v}"
        for c in containers(o):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in cm_names, f"{o['metadata']['name']}: {src}"
                assert "secretRef" not in src or src["secretRef"]["name"] == template["metadata"]["name"]
            for e in c.get("env", []):
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == template["metadata"]["name"], e
                    assert ref["key"] in secret_keys, f"secret key {ref['key']} not in secrets.template.yaml"
    # HPA / StatefulSet serviceName references
    for o in find(objs, "StatefulSet"):
        one(objs, "Service", o["spec"]["serviceName"])


def test_no_real_secrets_anywhere(objs):
    assert not find(objs, "Secret"), "Secrets must not be part of the build (see secrets.template.yaml)"
    template = yaml.safe_load((DEPLOY / "base/jitsi/secrets.template.yaml").read_text())
    kubernetes_validate.validate(template, K8S_VERSION, strict=True)
    assert template["kind"] == "Secret" and template["metadata"]["namespace"] == NAMESPACE
    assert labels(template).get(PART_OF[0]) == PART_OF[1]
    assert template["stringData"] and all(v == "CHANGE-ME" for v in template["stringData"].values())
    assert "data" not in template
    gen = DEPLOY / "gen-secrets.sh"
    sh = shutil.which("sh")
    if sh and gen.exists():
        res = subprocess.run([sh, str(gen)], capture_output=True, text=True, timeout=30)
        assert res.returncode == 0, res.stderr
        generated = yaml.safe_load(res.stdout)
        assert generated["stringData"].keys() == template["stringData"].keys()
        values = list(generated["stringData"].values())
        assert all(re.fullmatch(r"[0-9a-f]{32}", v) for v in values)
        assert len(set(values)) == len(values)


def _kustomizations():
    return sorted(DEPLOY.rglob("kustomization.y*ml"))


def test_no_remote_bases_and_no_deprecated_fields():
    files = _kustomizations()
    assert files
    for f in files:
        k = yaml.safe_load(f.read_text())
        rel = f.relative_to(REPO)
        for field in ("bases", "commonLabels", "patchesStrategicMerge", "patchesJson6902", "vars"):
            assert field not in k, f"{rel}: deprecated field {field!r}"
        for field in ("resources", "components", "crds"):
            for entry in k.get(field) or []:
                assert "http" not in entry and "git@" not in entry and "?ref=" not in entry, (
                    f"{rel}: remote {field} entry {entry!r}"
                )
                target = (f.parent / entry).resolve()
                assert target.exists(), f"{rel}: {entry!r} does not exist"
                assert DEPLOY in target.parents or target == DEPLOY, f"{rel}: {entry!r} leaves deploy/"


def test_environment_layout_is_scaffoldable():
    for env in ENVS:
        root = DEPLOY / "overlays" / env
        k = (root / "kustomization.yaml").read_text()
        m = re.search(r"# BEGIN shards\n(.*?)\n\s*# END shards", k, re.S)
        assert m, f"{env}: shard list in kustomization.yaml needs BEGIN/END markers"
        listed = re.findall(r"^\s*-\s*(shard-\d+)\s*$", m.group(1), re.M)
        assert listed == list(SHARDS)
        assert (root / "haproxy" / "backends.cfg").is_file()
        for shard in SHARDS:
            sk = yaml.safe_load((root / shard / "kustomization.yaml").read_text())
            assert sk["namePrefix"] == f"{shard}-"
            pairs = [lbl["pairs"] for lbl in sk["labels"] if SHARD_LABEL in lbl["pairs"]]
            assert pairs and pairs[0][SHARD_LABEL] == shard
            literals = dict(
                item.split("=", 1)
                for gen in sk.get("configMapGenerator", [])
                if gen["name"] == "shard-env"
                for item in gen.get("literals", [])
            )
            assert literals.get("JVB_PORT_BASE") == str(port_base(shard))
            assert len(list((root / shard).iterdir())) <= 4, f"{env}/{shard}: keep shard overlays small"
