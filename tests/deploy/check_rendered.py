"""Check a rendered load-generator build (the output of `kubectl kustomize deploy/work/<name>`,
i.e. what `loadtest provision --provider kubernetes` applies) the way tests/deploy/test_loadgen.py
checks the base: built-ins strictly against the Kubernetes 1.32 schema, the ScaledObject strictly
against KEDA's CRD, every pod under the restricted profile, every image attested, and the scaler's
nodeMaxSessions equal to the nodes' SE_NODE_MAX_SESSIONS.

Usage: check_rendered.py FILE     (called by tests/provision.rs; non-zero exit with the reason)
"""

from __future__ import annotations

import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

import pss
from images import ATTESTED
from test_loadgen import K8S_VERSION, KEDA_CRD, strict


def main() -> None:
    docs = [d for d in yaml.safe_load_all(Path(sys.argv[1]).read_text()) if d]
    crd = yaml.safe_load("\n".join(KEDA_CRD.read_text().splitlines()[2:]))
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    keda = strict(version["schema"]["openAPIV3Schema"])
    slots = set()
    for o in docs:
        if o["apiVersion"].startswith("keda.sh/"):
            jsonschema.validate(o, keda)
            slots.add(o["spec"]["triggers"][0]["metadata"]["nodeMaxSessions"])
            continue
        kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        if o["kind"] == "Deployment":
            tmpl = o["spec"]["template"]
            found = pss.violations(tmpl["spec"], tmpl["metadata"].get("annotations"))
            assert not found, f"{o['metadata']['name']}: {found}"
            for c in tmpl["spec"].get("initContainers", []) + tmpl["spec"]["containers"]:
                assert c["image"] in ATTESTED, c["image"]
                for e in c.get("env", []):
                    if e["name"] == "SE_NODE_MAX_SESSIONS":
                        slots.add(e["value"])
    assert len(slots) == 1, f"scaler and nodes disagree on slots: {slots}"
    print(f"ok: {len(docs)} objects, {slots.pop()} slots per node")


if __name__ == "__main__":
    main()
