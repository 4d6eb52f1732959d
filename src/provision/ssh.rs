//! SSH to fleet hosts (ssh2, blocking: call it from `spawn_blocking`): host-key pinning, key-file or
//! agent login, commands and uploads. [`Remote`] is the seam another SSH library would fill.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ssh2::{HashType, Session};

use super::ProvisionError;

/// What a remote command did.
#[derive(Debug, Clone)]
pub struct Output {
    /// Exit status.
    pub status: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Output {
    /// The last lines of stderr (or stdout), for error messages.
    pub fn tail(&self) -> String {
        let text = if self.stderr.trim().is_empty() {
            &self.stdout
        } else {
            &self.stderr
        };
        tail(text, 8)
    }
}

/// The last `n` non-empty lines of `text`, joined with ` | `.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// A logged-in remote host.
pub trait Remote {
    /// Run `command` through the login shell, feeding `stdin`.
    fn exec(&mut self, command: &str, stdin: &[u8]) -> Result<Output, ProvisionError>;
    /// Write `local` to `remote` (atomically: a temp name, then rename) with `mode`.
    fn upload(&mut self, local: &Path, remote: &str, mode: i32) -> Result<(), ProvisionError>;
}

/// How to reach and log in to a host.
#[derive(Debug, Clone)]
pub struct Target {
    /// Label for messages.
    pub label: String,
    /// Address.
    pub address: String,
    /// Port.
    pub port: u16,
    /// Login user.
    pub user: String,
    /// Private key file; `None` = agent.
    pub key: Option<PathBuf>,
    /// Connect and per-operation timeout.
    pub timeout: Duration,
}

/// A connected ssh2 session.
pub struct Ssh {
    session: Session,
    /// The session's TCP connection (a second handle), for waiting on it.
    socket: TcpStream,
    label: String,
    /// The key the server offered, `<type> SHA256:<base64>`.
    pub host_key: String,
}

fn err(label: &str, step: &str, detail: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Host {
        host: label.to_string(),
        step: step.to_string(),
        detail: detail.to_string(),
    }
}

/// `<type> SHA256:<base64 without padding>`, the way `ssh-keygen -lf` prints it.
pub fn fingerprint(session: &Session) -> Option<String> {
    let (_, kind) = session.host_key()?;
    let hash = session.host_key_hash(HashType::Sha256)?;
    let kind = match kind {
        ssh2::HostKeyType::Rsa => "ssh-rsa",
        ssh2::HostKeyType::Dss => "ssh-dss",
        ssh2::HostKeyType::Ecdsa256 => "ecdsa-sha2-nistp256",
        ssh2::HostKeyType::Ecdsa384 => "ecdsa-sha2-nistp384",
        ssh2::HostKeyType::Ecdsa521 => "ecdsa-sha2-nistp521",
        ssh2::HostKeyType::Ed25519 => "ssh-ed25519",
        ssh2::HostKeyType::Unknown => "unknown",
    };
    Some(format!(
        "{kind} SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(hash)
    ))
}

impl Ssh {
    /// Connect, check the host key against `pinned` (`None` = first contact: accept and report it),
    /// and log in.
    pub fn connect(t: &Target, pinned: Option<&str>) -> Result<Ssh, ProvisionError> {
        let label = t.label.as_str();
        let addr = (t.address.as_str(), t.port)
            .to_socket_addrs()
            .map_err(|e| {
                err(
                    label,
                    "connect",
                    format!("cannot resolve {}: {e}", t.address),
                )
            })?
            .next()
            .ok_or_else(|| err(label, "connect", format!("{} has no address", t.address)))?;
        let tcp = TcpStream::connect_timeout(&addr, t.timeout)
            .map_err(|e| err(label, "connect", format!("{addr}: {e}")))?;
        let socket = tcp
            .try_clone()
            .map_err(|e| err(label, "connect", format!("{addr}: {e}")))?;
        let mut session = Session::new().map_err(|e| err(label, "connect", e))?;
        session.set_timeout(t.timeout.as_millis().min(u32::MAX as u128) as u32);
        session.set_tcp_stream(tcp);
        session
            .handshake()
            .map_err(|e| err(label, "connect", format!("SSH handshake with {addr}: {e}")))?;
        let host_key = fingerprint(&session)
            .ok_or_else(|| err(label, "host key", "the server offered no host key"))?;
        if let Some(pinned) = pinned
            && pinned != host_key
        {
            return Err(ProvisionError::HostKeyChanged {
                host: label.to_string(),
                pinned: pinned.to_string(),
                offered: host_key,
            });
        }
        match &t.key {
            Some(key) => session
                .userauth_pubkey_file(&t.user, None, key, None)
                .map_err(|e| {
                    err(
                        label,
                        "login",
                        format!("as {} with key {}: {e}", t.user, key.display()),
                    )
                })?,
            None => session.userauth_agent(&t.user).map_err(|e| {
                err(
                    label,
                    "login",
                    format!("as {} with the SSH agent (SSH_AUTH_SOCK): {e}", t.user),
                )
            })?,
        }
        if !session.authenticated() {
            return Err(err(label, "login", format!("as {}: not accepted", t.user)));
        }
        Ok(Ssh {
            session,
            socket,
            label: label.to_string(),
            host_key,
        })
    }
}

impl Ssh {
    /// The libssh2 session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The session's TCP socket, to wait for it to become readable or writable.
    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }
}

impl Remote for Ssh {
    fn exec(&mut self, command: &str, stdin: &[u8]) -> Result<Output, ProvisionError> {
        let label = self.label.clone();
        let e = |d: ssh2::Error| err(&label, "exec", d);
        let mut ch = self.session.channel_session().map_err(e)?;
        ch.exec(command).map_err(e)?;
        if !stdin.is_empty() {
            ch.write_all(stdin)
                .map_err(|d| err(&label, "exec", format!("stdin: {d}")))?;
        }
        ch.send_eof().map_err(e)?;
        let mut stdout = Vec::new();
        let mut stderr = Vec::new();
        ch.read_to_end(&mut stdout)
            .map_err(|d| err(&label, "exec", format!("reading output: {d}")))?;
        ch.stderr()
            .read_to_end(&mut stderr)
            .map_err(|d| err(&label, "exec", format!("reading stderr: {d}")))?;
        ch.wait_close().map_err(e)?;
        Ok(Output {
            status: ch.exit_status().map_err(e)?,
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
        })
    }

    fn upload(&mut self, local: &Path, remote: &str, mode: i32) -> Result<(), ProvisionError> {
        let label = self.label.clone();
        let e = |d: String| {
            err(
                &label,
                "upload",
                format!("{} -> {remote}: {d}", local.display()),
            )
        };
        let mut src = std::fs::File::open(local).map_err(|d| e(d.to_string()))?;
        let sftp = self.session.sftp().map_err(|d| e(d.to_string()))?;
        // Unique per upload: two hosts that are one machine (or share a disk) may upload the same
        // file at once.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let tmp = format!("{remote}.part-{}-{nanos}", std::process::id());
        let mut dst = sftp
            .open_mode(
                Path::new(&tmp),
                ssh2::OpenFlags::WRITE | ssh2::OpenFlags::CREATE | ssh2::OpenFlags::TRUNCATE,
                mode,
                ssh2::OpenType::File,
            )
            .map_err(|d| e(d.to_string()))?;
        std::io::copy(&mut src, &mut dst).map_err(|d| e(d.to_string()))?;
        dst.close().map_err(|d| e(d.to_string()))?;
        drop(dst);
        // SFTP rename fails if the target exists on some servers; mv over the shell does not.
        let out = self.exec(
            &format!("mv -f {} {}", shell_quote(&tmp), shell_quote(remote)),
            b"",
        )?;
        if out.status != 0 {
            return Err(e(out.tail()));
        }
        Ok(())
    }
}

/// Quote for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_tail() {
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(tail("a\n\nb\nc\n", 2), "b | c");
        let o = Output {
            status: 1,
            stdout: "out".into(),
            stderr: " \n".into(),
        };
        assert_eq!(o.tail(), "out");
    }
}
