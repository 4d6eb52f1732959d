"""`loadtest deploy add-shard` / `scale` against a temporary copy of deploy/, plus the PromQL label contract.

The real deploy/ tree is never modified. The binary is target/debug/loadtest (override with LOADTEST_BIN);
`cargo build --bin loadtest` (or any `cargo test`, which scripts/test.sh runs first) builds it.

    .cache/venv/bin/python -m pytest tests/deploy -q
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from test_deploy import (
    DEPLOY,
    K8S_VERSION,
    NAME_LABEL,
    NAMESPACE,
    POD_NAME_LABEL,
    REPO,
    SHARD_LABEL,
    container,
    find,
    haproxy_config,
    kubernetes_validate,
    labels,
    one,
)


def _binary() -> Path:
    exe = Path(os.environ.get("LOADTEST_BIN", REPO / "target" / "debug" / "loadtest"))
    if not exe.is_file():
        pytest.fail(f"{exe} not found: run `cargo build --bin loadtest` first", pytrace=False)
    return exe


def loadtest(deploy_dir: Path, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(_binary()), "deploy", *args, "--deploy-dir", str(deploy_dir)],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == expect, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def render(path: Path) -> list[dict]:
    proc = subprocess.run(
        ["kubectl", "kustomize", str(path)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "KUBECONFIG": os.devnull},
    )
    assert proc.returncode == 0, f"kubectl kustomize {path} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def validate_strict(objs: list[dict]) -> None:
    errors = []
    for o in objs:
        if o["apiVersion"].startswith("monitoring.coreos.com/"):
            assert o["kind"] == "PodMonitor", o["kind"]  # CRD kind: checked by hand below / in test_deploy
            continue
        try:
            kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
            errors.append(f"{o['kind']}/{o['metadata']['name']}: {exc}")
    assert not errors, "\n".join(errors)


def snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def tree(tmp_path) -> Path:
    dst = tmp_path / "deploy"
    shutil.copytree(DEPLOY, dst)
    return dst


def check_shard(objs: list[dict], k: int, slots: int) -> None:
    shard = f"shard-{k}"
    base = 30300 + 100 * k
    mine = [o for o in objs if labels(o).get(SHARD_LABEL) == shard]
    assert mine, f"no objects labelled {shard}"
    for o in mine:
        assert o["metadata"]["name"].startswith(f"{shard}-"), o["metadata"]["name"]
        if o["kind"] not in {"ClusterRole", "ClusterRoleBinding"}:
            assert o["metadata"].get("namespace") == NAMESPACE
    for comp in ("web", "prosody", "jicofo"):
        one(objs, "Deployment", f"{shard}-{comp}")
    sts = one(objs, "StatefulSet", f"{shard}-jvb")
    assert sts["spec"]["selector"]["matchLabels"][SHARD_LABEL] == shard
    env_cm = one(objs, "ConfigMap", next(
        e["configMapRef"]["name"] for e in container(sts, "jvb")["envFrom"] if "shard-env" in e["configMapRef"]["name"]
    ))
    assert env_cm["data"]["JVB_PORT_BASE"] == str(base)
    assert env_cm["data"]["XMPP_SERVER"] == f"{shard}-prosody"
    pm = one(objs, "PodMonitor", f"{shard}-jvb")
    assert pm["spec"]["selector"]["matchLabels"][SHARD_LABEL] == shard
    hpa = one(objs, "HorizontalPodAutoscaler", f"{shard}-jvb")
    assert hpa["spec"]["scaleTargetRef"]["name"] == f"{shard}-jvb"
    ports = {}
    for svc in find(objs, "Service", prefix=f"{shard}-jvb-udp-"):
        (p,) = svc["spec"]["ports"]
        i = int(svc["metadata"]["name"].rsplit("-", 1)[1])
        assert svc["spec"]["selector"][POD_NAME_LABEL] == f"{shard}-jvb-{i}"
        assert p["protocol"] == "UDP" and p["nodePort"] == p["port"] == p["targetPort"]
        ports[i] = p["nodePort"]
    assert ports == {i: base + i for i in range(slots)}, ports


def backend_servers(objs: list[dict]) -> list[tuple[str, str, str]]:
    text = haproxy_config(objs)["backends.cfg"]
    block = re.search(r"# BEGIN shards\n(.*?)\n\s*# END shards", text, re.S)
    assert block, text
    return re.findall(r"^\s*server\s+(\S+)\s+(\S+)\s+id\s+(\d+)\s*$", block.group(1), re.M)


def test_add_shard_twice_builds_validates_and_registers(tree):
    first = loadtest(tree, "add-shard", "--env", "production")
    assert "shard-2" in first.stdout and "30500-30505" in first.stdout, first.stdout
    shard2 = tree / "overlays/production/shard-2"
    assert sorted(p.name for p in shard2.iterdir()) == ["jvb-nodeports.yaml", "kustomization.yaml", "sizing.yaml"]

    # The new shard overlay on its own builds offline and its built-in kinds validate strictly.
    alone = render(shard2)
    validate_strict(alone)
    assert {o["metadata"]["name"] for o in alone} >= {"shard-2-web", "shard-2-jvb", "shard-2-jvb-udp-5"}

    loadtest(tree, "add-shard", "--env", "production")
    objs = render(tree / "overlays/production")
    validate_strict(objs)
    check_shard(objs, 2, 6)
    check_shard(objs, 3, 6)
    check_shard(objs, 0, 6)  # untouched
    assert backend_servers(objs) == [
        (f"shard-{k}", f"shard-{k}-web.jitsi.svc.cluster.local:80", str(k + 1)) for k in range(4)
    ]
    nodeports = [p["nodePort"] for s in find(objs, "Service") for p in s["spec"]["ports"] if "nodePort" in p]
    assert len(nodeports) == len(set(nodeports)) == 24
    # The development environment was not touched.
    assert snapshot(tree / "overlays/development") == snapshot(DEPLOY / "overlays/development")


def test_dry_run_prints_the_diff_and_writes_nothing(tree):
    before = snapshot(tree)
    out = loadtest(tree, "add-shard", "--env", "development", "--dry-run").stdout
    assert "+++ b/overlays/development/shard-2/kustomization.yaml" in out
    assert "+  - shard-2" in out and "+    server shard-2 shard-2-web.jitsi.svc.cluster.local:80 id 3" in out
    assert snapshot(tree) == before


def test_unexpected_tree_is_refused_and_nothing_is_written(tree):
    k = tree / "overlays/production/kustomization.yaml"
    k.write_text(k.read_text().replace("  # END shards\n", ""))
    before = snapshot(tree)
    proc = loadtest(tree, "add-shard", "--env", "production", expect=2)
    assert "overlays/production/kustomization.yaml: expected exactly one line `# END shards`" in proc.stderr
    assert "nothing was written" in proc.stderr
    assert snapshot(tree) == before
    proc = loadtest(tree, "scale", "--env", "staging", "--jvb", "2", expect=2)
    assert "no environment `staging`" in proc.stderr and "production" in proc.stderr


def _changed_lines(a: str, b: str) -> tuple[list[str], list[str]]:
    import difflib
    d = list(difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0))
    return ([l[1:] for l in d if l.startswith("-") and not l.startswith("---")],
            [l[1:] for l in d if l.startswith("+") and not l.startswith("+++")])


def test_scale_changes_only_replicas_and_adds_missing_ports(tree):
    before_files = snapshot(tree)
    before = {(o["kind"], o["metadata"]["name"]): o for o in render(tree / "overlays/production")}
    out = loadtest(tree, "scale", "--env", "production", "--shard", "shard-1", "--jvb", "3", "--jvb-max", "8").stdout
    assert "shard-1: HPA minReplicas 2 -> 3, maxReplicas 6 -> 8" in out, out
    assert "UDP 30406-30407" in out, out

    after_files = snapshot(tree)
    changed = {f for f in after_files if after_files[f] != before_files.get(f)}
    assert changed == {"overlays/production/shard-1/sizing.yaml", "overlays/production/shard-1/jvb-nodeports.yaml"}
    removed, added = _changed_lines(before_files["overlays/production/shard-1/sizing.yaml"],
                                    after_files["overlays/production/shard-1/sizing.yaml"])
    assert removed == ["  minReplicas: 2", "  maxReplicas: 6"] and added == ["  minReplicas: 3", "  maxReplicas: 8"]
    np_before = before_files["overlays/production/shard-1/jvb-nodeports.yaml"]
    assert after_files["overlays/production/shard-1/jvb-nodeports.yaml"].startswith(np_before), "only appended"

    objs = render(tree / "overlays/production")
    validate_strict(objs)
    after = {(o["kind"], o["metadata"]["name"]): o for o in objs}
    assert set(after) - set(before) == {("Service", "shard-1-jvb-udp-6"), ("Service", "shard-1-jvb-udp-7")}
    assert set(before) <= set(after)
    diffs = {key for key in before if before[key] != after[key]}
    assert diffs == {("HorizontalPodAutoscaler", "shard-1-jvb")}, diffs
    hpa = after[("HorizontalPodAutoscaler", "shard-1-jvb")]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 8)
    check_shard(objs, 1, 8)

    # Scaling back down keeps the ports (a draining bridge still needs its port) and is a pure HPA change.
    loadtest(tree, "scale", "--env", "production", "--shard", "shard-1", "--jvb", "2", "--jvb-max", "6")
    final = snapshot(tree)
    assert final["overlays/production/shard-1/sizing.yaml"] == before_files["overlays/production/shard-1/sizing.yaml"]
    assert final["overlays/production/shard-1/jvb-nodeports.yaml"] == after_files["overlays/production/shard-1/jvb-nodeports.yaml"]


def test_scale_from_plan(tree, tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"jvbs": 8, "shards": 2, "deploy": {"jvb_replicas": 4, "hpa_min_replicas": 3,
                                                                     "hpa_max_replicas": 7}}))
    loadtest(tree, "scale", "--env", "production", "--from-plan", str(plan))
    objs = render(tree / "overlays/production")
    for k in (0, 1):
        hpa = one(objs, "HorizontalPodAutoscaler", f"shard-{k}-jvb")["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 7)
        check_shard(objs, k, 7)
    plan.write_text(json.dumps({"jvbs": 9, "shards": 3}))
    before = snapshot(tree)
    proc = loadtest(tree, "scale", "--env", "production", "--from-plan", str(plan), expect=2)
    assert "add-shard --env production` 1 time(s)" in proc.stderr
    assert snapshot(tree) == before


# --------------------------------------------------------------------------- PromQL built-ins vs labels


def _builtin_selectors() -> dict[str, dict[str, tuple[str, str]]]:
    """The label selectors of the `jvb` built-ins, read from src/metrics/prometheus.rs (namespace = default)."""
    src = (REPO / "src/metrics/prometheus.rs").read_text()
    body = src[src.index("pub fn builtins("):]
    body = body[: body.index("\n}\n")]
    scen = "\n".join(p.read_text() for p in sorted((REPO / "src/scenario").glob("*.rs")))
    m = re.search(r'fn default_namespace\(\) -> String \{\s*"([^"]+)"', scen)
    assert m, "default_namespace() not found in src/scenario/"
    ns = m.group(1)
    sels = {}
    for var, fmt in re.findall(r'let (jvb\w*) = format!\("((?:[^"\\]|\\.)*)"\);', body):
        text = fmt.replace('\\"', '"').replace("\\\\", "\\").replace("{ns}", ns)
        sels[var] = {k: (op, v) for k, op, v in re.findall(r'(\w+)(=~|!=|!~|=)"([^"]*)"', text)}
    assert sels, "no `let jvb… = format!(…)` selectors in builtins(): update this test with the new structure"
    used = set(re.findall(r"\{\{\{(\w+)\}", body))
    # Query names are constants of results::names::metric (`metric::JVB_CPU_CORES`) or literals.
    jvb_queries = re.findall(r'q\(\s*(?:"(jvb_\w+)"|metric::(JVB_\w+))', body)
    assert jvb_queries and used <= set(sels) | {"i"}, (used, sels)
    return sels


def _matches(op: str, want: str, value: str) -> bool:
    return {"=": value == want, "!=": value != want,
            "=~": re.fullmatch(want, value) is not None, "!~": re.fullmatch(want, value) is None}[op]


@pytest.mark.parametrize("env", ["development", "production"])
def test_promql_builtins_match_the_manifests(env):
    objs = render(DEPLOY / "overlays" / env)
    jvb_sts = [o for o in find(objs, "StatefulSet") if labels(o).get(NAME_LABEL) == "jvb"]
    assert jvb_sts
    # Every pod name the manifests can produce, with its container names.
    pods: list[tuple[str, str, set[str], bool]] = []  # (namespace, pod, containers, is_jvb)
    for o in objs:
        if o["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        names = {c["name"] for c in o["spec"]["template"]["spec"]["containers"]}
        is_jvb = labels(o).get(NAME_LABEL) == "jvb"
        if o["kind"] == "StatefulSet":
            hpa = [h for h in find(objs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == o["metadata"]["name"]]
            count = hpa[0]["spec"]["maxReplicas"] if hpa else o["spec"].get("replicas", 1)
            pod_names = [f"{o['metadata']['name']}-{i}" for i in range(count)]
        else:
            pod_names = [f"{o['metadata']['name']}-5d4f8c7b9-x2k4q"]  # Deployment pods: <name>-<hash>-<id>
        pods += [(o["metadata"]["namespace"], p, names, is_jvb) for p in pod_names]

    for var, sel in _builtin_selectors().items():
        for ns, pod, ctrs, is_jvb in pods:
            series = [{"namespace": ns, "pod": pod, "container": c} for c in ctrs] + [{"namespace": ns, "pod": pod, "container": ""}]
            hit = any(all(_matches(op, v, s.get(k, "")) for k, (op, v) in sel.items()) for s in series)
            assert hit == is_jvb, f"selector {var} {sel} {'misses' if is_jvb else 'also matches'} pod {pod} ({env})"
    # jvb_cpu_limit_ratio divides by kube_pod_container_resource_limits{container="jvb",resource="cpu"}.
    for sts in jvb_sts:
        assert "cpu" in container(sts, "jvb")["resources"]["limits"]


def test_check_builds_offline_and_asks_the_cluster_for_the_prerequisites(tree, tmp_path):
    """`deploy check`: offline it renders the overlay and names what it could not verify; with a
    kubeconfig it asks the cluster (a STAND-IN kubectl, tests/fixtures/kubectl-standin, that contacts
    nothing and answers like kubectl) for the PodMonitor CRD, metrics-server and the server version,
    and exits 1 naming what is missing, 3 when the cluster cannot be reached."""
    real = shutil.which("kubectl")
    log = tmp_path / "kubectl.log"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    base_env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    base_env.update({
        "PATH": f"{REPO / 'tests/fixtures/kubectl-standin'}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "STANDIN_REAL_KUBECTL": real, "STANDIN_LOG": str(log),
    })

    def check(*extra, env=None, expect=0):
        proc = subprocess.run(
            [str(_binary()), "deploy", "check", "--env", "production", "--deploy-dir", str(tree), *extra],
            capture_output=True, text=True, timeout=120, env={**base_env, **(env or {})},
        )
        assert proc.returncode == expect, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr

    out = check()
    n = len(render(tree / "overlays" / "production"))
    assert f"production: builds offline: {n} objects" in out
    assert "not checked against a cluster" in out and "podmonitors.monitoring.coreos.com" in out
    assert "--kubeconfig" not in log.read_text(), "offline: the cluster is not asked"

    out = check("--kubeconfig", str(kubeconfig))
    assert "Kubernetes 1.31: ok" in out
    assert "podmonitors.monitoring.coreos.com: ok" in out and "metrics-server" in out
    calls = log.read_text()
    assert f"--kubeconfig {kubeconfig} get crd podmonitors.monitoring.coreos.com -o name" in calls

    out = check("--kubeconfig", str(kubeconfig), env={"STANDIN_MISSING": "podmonitor metrics"}, expect=1)
    assert "podmonitors.monitoring.coreos.com: MISSING (needed by the PodMonitors" in out, out
    assert "Available): MISSING (needed by the HorizontalPodAutoscalers" in out, out

    out = check("--kubeconfig", str(kubeconfig), env={"STANDIN_UNREACHABLE": "1"}, expect=3)
    assert "unreachable" in out and "connection to the server" in out

    # KUBECONFIG in the environment counts as given.
    check(env={"KUBECONFIG": str(kubeconfig), "STANDIN_MISSING": "metrics"}, expect=1)
    # A broken tree is bad input.
    (tree / "overlays" / "production" / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    check(expect=2)
