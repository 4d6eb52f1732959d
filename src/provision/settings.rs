//! Provision settings configured once: `loadtest provision --servers 10` works as written when the
//! provider, region, server type, operator CIDR and SSH key come from the environment
//! (`LOADTEST_PROVIDER`, …, read by clap) or from the `[provision]` table of a small config file.
//! Flags win over the environment, the environment over the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ProvisionArgs;

/// Where the config file is looked for when `--config` is not given.
pub const CONFIG_NAME: &str = "loadtest.toml";

/// The `[provision]` table of `loadtest.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// `--provider`.
    pub provider: Option<String>,
    /// `--region`.
    pub region: Option<String>,
    /// `--server-type`.
    pub server_type: Option<String>,
    /// `--image`.
    pub image: Option<String>,
    /// `--operator-cidr`.
    pub operator_cidr: Option<String>,
    /// `--ssh-key` (`~/` is the home directory).
    pub ssh_key: Option<PathBuf>,
    /// `--ssh-public-key` (`~/` is the home directory).
    pub ssh_public_key: Option<PathBuf>,
    /// `--existing-ssh-key`.
    pub existing_ssh_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    provision: FileSettings,
}

/// The config file to read: `--config` (must exist), else `./loadtest.toml`, else
/// `$XDG_CONFIG_HOME/loadtest/loadtest.toml` (default `~/.config/…`), if any exists.
pub fn config_path(explicit: Option<&Path>) -> Result<Option<PathBuf>, String> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(Some(p.to_path_buf()))
        } else {
            Err(format!("--config {}: no such file", p.display()))
        };
    }
    let user_dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let candidates = [
        Some(PathBuf::from(CONFIG_NAME)),
        user_dir.map(|d| d.join("loadtest").join(CONFIG_NAME)),
    ];
    Ok(candidates.into_iter().flatten().find(|p| p.is_file()))
}

/// Read the `[provision]` table of `path` (errors name the file and the key).
pub fn read(path: &Path) -> Result<FileSettings, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(file.provision)
}

fn home_relative(p: PathBuf) -> PathBuf {
    match (p.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => p,
    }
}

/// Fill what neither a flag nor the environment gave from the file's settings.
pub fn fill(args: &mut ProvisionArgs, file: FileSettings) {
    fn or<T>(slot: &mut Option<T>, from_file: Option<T>) {
        if slot.is_none() {
            *slot = from_file;
        }
    }
    or(&mut args.provider, file.provider);
    or(&mut args.region, file.region);
    or(&mut args.server_type, file.server_type);
    or(&mut args.image, file.image);
    or(&mut args.operator_cidr, file.operator_cidr);
    or(&mut args.ssh_key, file.ssh_key.map(home_relative));
    or(
        &mut args.ssh_public_key,
        file.ssh_public_key.map(home_relative),
    );
    or(&mut args.existing_ssh_key, file.existing_ssh_key);
}

/// What a cloud provision still lacks, one line per setting with every way to give it.
pub fn missing(args: &ProvisionArgs) -> Vec<String> {
    let how = |flag: &str, env: &str, key: &str| {
        format!("{flag} (or {env}, or `{key} = …` under [provision] in {CONFIG_NAME})")
    };
    let mut out = Vec::new();
    if args.provider.is_none() {
        out.push(how(
            "--provider hetzner|ionos|aws|kubernetes|static",
            "LOADTEST_PROVIDER",
            "provider",
        ));
    }
    let cloud = !matches!(args.provider.as_deref(), Some("static" | "kubernetes"));
    if cloud && args.operator_cidr.is_none() {
        out.push(how(
            "--operator-cidr CIDR",
            "LOADTEST_OPERATOR_CIDR",
            "operator_cidr",
        ));
    }
    if cloud && args.ssh_key.is_none() && args.ssh_public_key.is_none() {
        out.push(how("--ssh-key FILE", "LOADTEST_SSH_KEY", "ssh_key"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ProvisionArgs,
    }

    fn parse(argv: &[&str]) -> ProvisionArgs {
        Cli::try_parse_from([&["provision"], argv].concat())
            .unwrap()
            .args
    }

    #[test]
    fn the_file_fills_only_what_flags_did_not_give() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CONFIG_NAME);
        std::fs::write(
            &p,
            "[provision]\nprovider = \"hetzner\"\nregion = \"nbg1\"\nserver_type = \"cx33\"\n\
             operator_cidr = \"198.51.100.7/32\"\nssh_key = \"/keys/op\"\n",
        )
        .unwrap();
        let mut a = parse(&["--servers", "10", "--region", "hel1"]);
        assert_eq!(missing(&a).len(), 3, "{:?}", missing(&a));
        fill(&mut a, read(&p).unwrap());
        assert_eq!(a.provider.as_deref(), Some("hetzner"));
        assert_eq!(a.region.as_deref(), Some("hel1"), "the flag wins");
        assert_eq!(a.server_type.as_deref(), Some("cx33"));
        assert_eq!(a.ssh_key.as_deref(), Some(Path::new("/keys/op")));
        assert!(missing(&a).is_empty());
    }

    #[test]
    fn missing_settings_are_listed_together_with_every_way_to_give_them() {
        let m = missing(&parse(&["--servers", "10"]));
        assert_eq!(m.len(), 3);
        assert!(m[0].contains("LOADTEST_PROVIDER") && m[0].contains("loadtest.toml"));
        assert!(m[1].contains("--operator-cidr") && m[1].contains("LOADTEST_OPERATOR_CIDR"));
        assert!(m[2].contains("LOADTEST_SSH_KEY"));
        assert!(missing(&parse(&["--provider", "static"])).is_empty());
        let m = missing(&parse(&["--provider", "aws", "--ssh-public-key", "k.pub"]));
        assert_eq!(m.len(), 1, "{m:?}");
    }

    #[test]
    fn bad_files_are_named_with_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(CONFIG_NAME);
        std::fs::write(&p, "[provision]\nregoin = \"nbg1\"\n").unwrap();
        let e = read(&p).unwrap_err();
        assert!(e.contains(CONFIG_NAME) && e.contains("regoin"), "{e}");
        assert!(config_path(Some(&dir.path().join("nope.toml"))).is_err());
        assert_eq!(config_path(Some(&p)).unwrap(), Some(p.clone()));
    }
}
