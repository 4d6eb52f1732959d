"""checkov (PyPI, maintained by Prisma Cloud) on rendered manifests, limited to its Kubernetes checks
that correspond to rules of the PodSecurity "restricted" profile. checkov lives in its own venv
(.cache/venv-checkov, ./scripts/setup.sh): it depends on a fork of python-hcl2 that would replace the
one tests/terraform uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]

# checkov check -> the restricted-profile rule it covers.
RESTRICTED_CHECKS = {
    "CKV_K8S_16": "privileged containers (baseline)",
    "CKV_K8S_17": "host PID namespace (baseline)",
    "CKV_K8S_18": "host IPC namespace (baseline)",
    "CKV_K8S_19": "host network (baseline)",
    "CKV_K8S_20": "allowPrivilegeEscalation false (restricted)",
    "CKV_K8S_23": "runAsNonRoot (restricted)",
    "CKV_K8S_25": "added capabilities (restricted: NET_BIND_SERVICE only)",
    "CKV_K8S_26": "hostPort (baseline)",
    "CKV_K8S_27": "docker socket hostPath (baseline: no hostPath)",
    "CKV_K8S_28": "NET_RAW dropped (restricted: drop ALL)",
    "CKV_K8S_31": "seccomp RuntimeDefault (restricted)",
    "CKV_K8S_37": "capabilities dropped (restricted: drop ALL)",
    "CKV_K8S_39": "CAP_SYS_ADMIN (baseline)",
}


def binary() -> str:
    for cand in (
        os.environ.get("LOADTEST_CHECKOV"),
        str(REPO / ".cache" / "venv-checkov" / "bin" / "checkov"),
        shutil.which("checkov"),
    ):
        if cand and Path(cand).is_file():
            return cand
    raise AssertionError("checkov not found: ./scripts/setup.sh installs it into .cache/venv-checkov")


def checkov_restricted(docs) -> int:
    """Run the checks on `docs` (rendered objects); fail with every finding. The number of passed
    checks (so a caller can tell it checked something)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rendered.yaml"
        path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
        proc = subprocess.run(
            [binary(), "-f", str(path), "--framework", "kubernetes", "--check",
             ",".join(RESTRICTED_CHECKS), "-o", "json", "--skip-download"],
            capture_output=True, text=True, timeout=300,
            env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
        )
    if proc.returncode not in (0, 1):
        raise AssertionError(f"checkov failed to run (rc {proc.returncode}): {proc.stderr[-2000:]}")
    report = json.loads(proc.stdout or "{}")
    if isinstance(report, list):
        report = report[0]
    results = report.get("results", {})
    failed = [
        f"{f['check_id']} ({RESTRICTED_CHECKS[f['check_id']]}): {f['resource']}"
        for f in results.get("failed_checks", [])
    ]
    assert not failed, "checkov (restricted-profile checks):\n" + "\n".join(failed)
    passed = len(results.get("passed_checks", []))
    assert passed, f"checkov checked nothing: {proc.stdout[:500]}"
    return passed
