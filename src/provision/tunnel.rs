//! `ssh -L` for the hub's port when it is closed to the operator: connections accepted on a local
//! listener are forwarded as `direct-tcpip` channels of ONE SSH session to the hub host (its pinned
//! host key checked), all served by one thread that sleeps in `poll(2)` until a socket is ready.
//!
//! libssh2 is used non-blocking: every channel is tried until it would block, and only then does
//! the thread wait, on the listener, the client sockets that have room or data, and the SSH socket
//! in the directions libssh2 says it is blocked on ([`ssh2::Session::block_directions`]). A dead
//! session is replaced (pinned key checked again) when the next connection arrives.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use ssh2::{BlockDirections, Channel, ErrorCode};

use super::ProvisionError;
use super::ssh::{Ssh, Target};

/// libssh2's "would block".
const EAGAIN: i32 = -37;
/// Upper bound of one wait: a safety net, not a polling interval (nothing is lost if it never fired).
const MAX_WAIT: Duration = Duration::from_secs(5);

/// Where the forwarded connections go, as seen from the SSH server.
#[derive(Debug, Clone)]
pub struct Forward {
    /// How to reach and log in to the SSH server.
    pub via: Target,
    /// Its pinned host key.
    pub pinned: String,
    /// Destination host.
    pub host: String,
    /// Destination port.
    pub port: u16,
}

fn would_block(e: &ssh2::Error) -> bool {
    e.code() == ErrorCode::Session(EAGAIN)
}

/// What one non-blocking read or write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Moved,
    Idle,
    Eof,
    Failed,
}

/// Read what is there into the empty `into`.
fn read_some(r: &mut impl Read, buf: &mut [u8], into: &mut Vec<u8>) -> Step {
    match r.read(buf) {
        Ok(0) => Step::Eof,
        Ok(n) => {
            into.extend_from_slice(&buf[..n]);
            Step::Moved
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Idle,
        Err(_) => Step::Failed,
    }
}

/// Write as much of `pending` as goes now, and drop what was written.
fn write_some(w: &mut impl Write, pending: &mut Vec<u8>) -> Step {
    if pending.is_empty() {
        return Step::Idle;
    }
    match w.write(pending) {
        Ok(0) => Step::Idle,
        Ok(n) => {
            pending.drain(..n);
            Step::Moved
        }
        Err(e) if e.kind() == ErrorKind::WouldBlock => Step::Idle,
        Err(_) => Step::Failed,
    }
}

/// One forwarded connection.
struct Conn {
    client: TcpStream,
    channel: Option<Channel>,
    /// Client bytes not yet written to the channel.
    up: Vec<u8>,
    /// Channel bytes not yet written to the client.
    down: Vec<u8>,
    client_eof: bool,
    eof_sent: bool,
    channel_eof: bool,
    done: bool,
}

impl Conn {
    fn new(client: TcpStream) -> Conn {
        Conn {
            client,
            channel: None,
            up: Vec::new(),
            down: Vec::new(),
            client_eof: false,
            eof_sent: false,
            channel_eof: false,
            done: false,
        }
    }

    /// Move whatever can move without blocking; true if anything did.
    fn pump(&mut self, buf: &mut [u8]) -> bool {
        let Some(ch) = self.channel.as_mut() else {
            return false;
        };
        let mut steps = Vec::with_capacity(5);
        // Client -> channel.
        if self.up.is_empty() && !self.client_eof {
            let step = read_some(&mut self.client, buf, &mut self.up);
            self.client_eof = step == Step::Eof;
            steps.push(step);
        }
        steps.push(write_some(ch, &mut self.up));
        if self.client_eof && self.up.is_empty() && !self.eof_sent {
            steps.push(match ch.send_eof() {
                Ok(()) => {
                    self.eof_sent = true;
                    Step::Moved
                }
                Err(e) if would_block(&e) => Step::Idle,
                Err(_) => Step::Failed,
            });
        }
        // Channel -> client.
        if self.down.is_empty() && !self.channel_eof {
            let step = match read_some(ch, buf, &mut self.down) {
                // Zero bytes without the remote's EOF: nothing yet.
                Step::Eof if !ch.eof() => Step::Idle,
                s => s,
            };
            self.channel_eof = step == Step::Eof;
            steps.push(step);
        }
        steps.push(write_some(&mut self.client, &mut self.down));
        if self.channel_eof && self.down.is_empty() {
            // The destination closed: so does the client.
            let _ = self.client.shutdown(Shutdown::Both);
            self.done = true;
        }
        self.done |= steps.contains(&Step::Failed);
        steps.iter().any(|s| matches!(s, Step::Moved | Step::Eof))
    }

    /// What to wait for on the client socket.
    fn client_interest(&self) -> PollFlags {
        let mut f = PollFlags::empty();
        if self.channel.is_some() && self.up.is_empty() && !self.client_eof {
            f |= PollFlags::IN;
        }
        if !self.down.is_empty() {
            f |= PollFlags::OUT;
        }
        f
    }
}

/// The tunnel's state: the session (if connected) and the connections it carries.
struct Tunnel {
    fwd: Forward,
    ssh: Option<Ssh>,
    conns: Vec<Conn>,
}

impl Tunnel {
    /// A logged-in non-blocking session, reconnecting (pin checked) if there is none.
    fn session(&mut self) -> Result<&Ssh, ProvisionError> {
        if self.ssh.is_none() {
            let s = Ssh::connect(&self.fwd.via, Some(&self.fwd.pinned))?;
            s.session().set_blocking(false);
            self.ssh = Some(s);
        }
        Ok(self.ssh.as_ref().expect("just set"))
    }

    /// Open the channel of the oldest connection still waiting for one (libssh2 opens one channel
    /// at a time per session). True on progress.
    fn open_next(&mut self) -> bool {
        let Some(i) = self.conns.iter().position(|c| c.channel.is_none()) else {
            return false;
        };
        let (host, port) = (self.fwd.host.clone(), self.fwd.port);
        let opened = match self.session() {
            Ok(s) => s.session().channel_direct_tcpip(&host, port, None),
            Err(e) => {
                eprintln!("tunnel: {e}");
                self.conns[i].done = true;
                return true;
            }
        };
        match opened {
            Ok(ch) => {
                self.conns[i].channel = Some(ch);
                true
            }
            Err(e) if would_block(&e) => false,
            Err(e) => {
                eprintln!("tunnel: {}: to {host}:{port}: {e}", self.fwd.via.label);
                self.conns[i].done = true;
                // A broken session fails every open: start a new one for the next connection.
                self.ssh = None;
                true
            }
        }
    }

    /// Drop finished connections (closing their channels as far as possible without blocking).
    fn reap(&mut self) {
        for c in self.conns.iter_mut().filter(|c| c.done) {
            if let Some(ch) = c.channel.as_mut() {
                let _ = ch.close();
            }
        }
        self.conns.retain(|c| !c.done);
    }

    /// Sleep until the listener, a client or the SSH socket is ready (or [`MAX_WAIT`]).
    fn wait(&self, listener: &TcpListener) {
        let mut fds = vec![PollFd::new(listener, PollFlags::IN)];
        for c in &self.conns {
            fds.push(PollFd::new(&c.client, c.client_interest()));
        }
        if let Some(s) = &self.ssh
            && !self.conns.is_empty()
        {
            let dirs = match s.session().block_directions() {
                BlockDirections::Outbound => PollFlags::OUT,
                BlockDirections::Both => PollFlags::IN | PollFlags::OUT,
                // Channel data can arrive whenever a channel is open.
                BlockDirections::Inbound | BlockDirections::None => PollFlags::IN,
            };
            fds.push(PollFd::new(s.socket(), dirs));
        }
        let max = Timespec::try_from(MAX_WAIT).expect("a few seconds fit");
        let _ = poll(&mut fds, Some(&max));
    }
}

/// Log in to `fwd.via` (pinned key checked, so a changed key is an error here and now), then
/// forward connections accepted on `listener` from a thread of its own until the process exits.
pub fn start(listener: TcpListener, fwd: Forward) -> Result<(), ProvisionError> {
    listener
        .set_nonblocking(true)
        .map_err(|e| ProvisionError::Host {
            host: fwd.via.label.clone(),
            step: "tunnel".into(),
            detail: format!("local listener: {e}"),
        })?;
    let mut t = Tunnel {
        fwd,
        ssh: None,
        conns: Vec::new(),
    };
    t.session()?;
    std::thread::spawn(move || t.serve(&listener));
    Ok(())
}

impl Tunnel {
    /// Accept, open, pump and wait, forever.
    fn serve(mut self, listener: &TcpListener) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let mut moved = self.accept(listener);
            moved |= self.open_next();
            for c in self.conns.iter_mut() {
                moved |= c.pump(&mut buf);
            }
            self.reap();
            if !moved {
                self.wait(listener);
            }
        }
    }

    /// Take every pending connection; true if there was one.
    fn accept(&mut self, listener: &TcpListener) -> bool {
        let mut any = false;
        loop {
            match listener.accept() {
                Ok((client, _)) => {
                    if client.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn::new(client));
                        any = true;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return any,
                Err(e) => {
                    eprintln!("tunnel: accept: {e}");
                    return any;
                }
            }
        }
    }
}
