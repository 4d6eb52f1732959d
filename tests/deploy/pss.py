"""The Kubernetes Pod Security Standards, "restricted" profile, as a check of pod specs.

Written from the rules documented at kubernetes.io/docs/concepts/security/pod-security-standards/
(policy version v1.32; restricted = every baseline control plus the restricted ones). It is
cross-checked by a maintained tool, checkov (tests/deploy/test_deploy.py runs its
Kubernetes checks that correspond to these rules), which does not cover all of them (volume types,
runAsUser 0, sysctls, procMount, SELinux options, AppArmor), hence this implementation.

    violations(pod_spec, annotations) -> list of "container/field: why" strings (empty = passes)
"""

from __future__ import annotations

# Baseline: capabilities a container may add (restricted allows only NET_BIND_SERVICE).
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
RESTRICTED_ADD = {"NET_BIND_SERVICE"}
# Restricted: the only volume types allowed.
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected",
    "secret",
}
# Baseline: the "safe" sysctls.
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
VOLUME_KEYS_IGNORED = {"name"}


def _containers(spec: dict):
    for kind in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(kind) or []:
            yield kind, c


def _seccomp_ok(profile: dict | None, allow_unset: bool) -> bool:
    if not profile:
        return allow_unset
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def violations(spec: dict, annotations: dict | None = None) -> list[str]:
    """Every way `spec` (a PodSpec) breaks the restricted profile."""
    out: list[str] = []
    annotations = annotations or {}
    psc = spec.get("securityContext") or {}

    # Baseline: host namespaces, host ports, hostPath, sysctls, pod-level SELinux/seccomp.
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            out.append(f"pod/{key}: must not be true")
    if spec.get("hostUsers") is False:
        pass  # user namespaces are allowed
    for v in spec.get("volumes") or []:
        kinds = set(v) - VOLUME_KEYS_IGNORED
        if "hostPath" in kinds:
            out.append(f"volume {v.get('name')}: hostPath is not allowed")
        elif not kinds <= RESTRICTED_VOLUMES:
            out.append(f"volume {v.get('name')}: type {sorted(kinds)} is not allowed (restricted volume types)")
    for s in psc.get("sysctls") or []:
        if s.get("name") not in SAFE_SYSCTLS:
            out.append(f"pod/sysctls: {s.get('name')} is not a safe sysctl")
    if not _selinux_ok(psc.get("seLinuxOptions")):
        out.append("pod/securityContext.seLinuxOptions: type/user/role not allowed")
    if (psc.get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append("pod/securityContext.seccompProfile: Unconfined")
    if (psc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        out.append("pod/securityContext.appArmorProfile: Unconfined")
    if psc.get("runAsUser") == 0:
        out.append("pod/securityContext.runAsUser: 0 (root)")

    pod_non_root = psc.get("runAsNonRoot") is True
    pod_seccomp = _seccomp_ok(psc.get("seccompProfile"), allow_unset=False)
    for kind, c in _containers(spec):
        where = f"{kind}/{c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("privileged"):
            out.append(f"{where}: privileged")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                out.append(f"{where}: hostPort {p['hostPort']}")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{where}: procMount {sc['procMount']}")
        if not _selinux_ok(sc.get("seLinuxOptions")):
            out.append(f"{where}: seLinuxOptions type/user/role not allowed")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            out.append(f"{where}: appArmorProfile Unconfined")
        name = c.get("name")
        apparmor = annotations.get(f"container.apparmor.security.beta.kubernetes.io/{name}")
        if apparmor and apparmor != "runtime/default" and not apparmor.startswith("localhost/"):
            out.append(f"{where}: AppArmor annotation {apparmor}")
        caps = sc.get("capabilities") or {}
        added = set(caps.get("add") or [])
        if not added <= RESTRICTED_ADD:
            out.append(f"{where}: adds capabilities {sorted(added - RESTRICTED_ADD)} (only NET_BIND_SERVICE)")
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}: capabilities.drop must contain ALL")
        # Restricted: privilege escalation, non-root, seccomp.
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}: allowPrivilegeEscalation must be false")
        if sc.get("runAsNonRoot") is False or not (pod_non_root or sc.get("runAsNonRoot") is True):
            out.append(f"{where}: runAsNonRoot must be true (pod or container)")
        if sc.get("runAsUser") == 0:
            out.append(f"{where}: runAsUser 0 (root)")
        profile = sc.get("seccompProfile")
        if (profile or {}).get("type") == "Unconfined" or not (
            _seccomp_ok(profile, allow_unset=False) or (profile is None and pod_seccomp)
        ):
            out.append(f"{where}: seccompProfile must be RuntimeDefault or Localhost (pod or container)")
    return out


def _selinux_ok(opts: dict | None) -> bool:
    if not opts:
        return True
    return opts.get("type", "") in SELINUX_TYPES and not opts.get("user") and not opts.get("role")


def selftest() -> None:
    """The checker rejects what it must (kept next to it; run by the tests)."""
    good = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{
            "name": "c",
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }],
        "volumes": [{"name": "run", "emptyDir": {"medium": "Memory"}}],
    }
    assert violations(good) == [], violations(good)
    import copy

    def bad(mutate):
        spec = copy.deepcopy(good)
        mutate(spec)
        found = violations(spec)
        assert found, f"not caught: {spec}"
        return found

    bad(lambda s: s["containers"][0]["securityContext"].pop("allowPrivilegeEscalation"))
    bad(lambda s: s["securityContext"].pop("runAsNonRoot"))
    bad(lambda s: s["securityContext"].pop("seccompProfile"))
    bad(lambda s: s["containers"][0]["securityContext"]["capabilities"].update(add=["NET_ADMIN"]))
    bad(lambda s: s["containers"][0]["securityContext"]["capabilities"].update(drop=["NET_RAW"]))
    bad(lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}))
    bad(lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}))
    bad(lambda s: s.update(hostNetwork=True))
    bad(lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]))
    bad(lambda s: s["securityContext"].update(runAsUser=0))
    bad(lambda s: s["containers"][0]["securityContext"].update(privileged=True))
    bad(lambda s: s["securityContext"].update(sysctls=[{"name": "net.core.somaxconn", "value": "1"}]))
