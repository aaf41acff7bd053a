// SPDX-License-Identifier: GPL-2.0

//! The control socket's transport: a unix stream socket that takes one
//! command per line and answers each with zero or more lines followed by a
//! final `ok` or `error: <why>` line. What the commands do lives in
//! `commands.rs`.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::sys;
use crate::unix_socket::{BindError, Listener};

/// Longest command line accepted.
pub const MAX_LINE: usize = 4096;
/// Most control clients at once.
pub const MAX_CLIENTS: usize = 16;
/// Most reply bytes buffered for one client before it is dropped.
const MAX_OUTPUT: usize = 1 << 20;

struct Client {
    id: u64,
    stream: UnixStream,
    input: Vec<u8>,
    output: Vec<u8>,
    eof: bool,
    dead: bool,
}

/// A command line from a client.
pub struct CommandLine {
    /// The client, for the reply.
    pub client: u64,
    /// The line, without its newline.
    pub line: String,
}

/// The listening control socket and its clients.
pub struct ControlServer {
    listener: Listener,
    clients: Vec<Client>,
    next_id: u64,
}

impl ControlServer {
    /// Binds the control socket at `path`.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        Ok(Self {
            listener: Listener::bind(path)?,
            clients: Vec::new(),
            next_id: 1,
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        self.listener.path()
    }

    /// Adds the fds to poll.
    pub fn pollfds(&self, out: &mut Vec<libc::pollfd>) {
        out.push(sys::pollfd(
            self.listener.socket().as_raw_fd(),
            libc::POLLIN,
        ));
        for c in &self.clients {
            let mut ev = libc::POLLIN;
            if !c.output.is_empty() {
                ev |= libc::POLLOUT;
            }
            out.push(sys::pollfd(c.stream.as_raw_fd(), ev));
        }
    }

    /// Accepts clients, reads, writes pending replies, drops finished
    /// clients, and returns the complete command lines received.
    pub fn service(&mut self) -> Vec<CommandLine> {
        loop {
            match self.listener.accept() {
                Ok(Some(s)) => {
                    if self.clients.len() >= MAX_CLIENTS {
                        crate::log_limited!(crate::log::Level::Warn, "too many control clients");
                        continue;
                    }
                    if let Err(e) = s.set_nonblocking(true) {
                        crate::log_warn!("control client: {e}");
                        continue;
                    }
                    self.clients.push(Client {
                        id: self.next_id,
                        stream: s,
                        input: Vec::new(),
                        output: Vec::new(),
                        eof: false,
                        dead: false,
                    });
                    self.next_id += 1;
                }
                Ok(None) => break,
                Err(e) => {
                    crate::log_limited!(crate::log::Level::Warn, "control accept: {e}");
                    break;
                }
            }
        }
        let mut lines = Vec::new();
        for c in &mut self.clients {
            c.read_input(&mut lines);
        }
        self.flush();
        lines
    }

    /// Queues the reply to a command: `body` lines, then `ok` or
    /// `error: <why>`.
    pub fn reply(&mut self, client: u64, body: &[String], result: &Result<(), String>) {
        let Some(c) = self.clients.iter_mut().find(|c| c.id == client) else {
            return;
        };
        for l in body {
            c.output.extend_from_slice(l.as_bytes());
            c.output.push(b'\n');
        }
        match result {
            Ok(()) => c.output.extend_from_slice(b"ok\n"),
            Err(why) => {
                c.output.extend_from_slice(b"error: ");
                c.output
                    .extend_from_slice(why.replace('\n', " ").as_bytes());
                c.output.push(b'\n');
            }
        }
        if c.output.len() > MAX_OUTPUT {
            c.dead = true;
        }
        self.flush();
    }

    /// Writes what can be written and drops closed clients.
    pub fn flush(&mut self) {
        for c in &mut self.clients {
            c.write_output();
        }
        self.clients
            .retain(|c| !c.dead && (!c.eof || !c.output.is_empty()));
    }
}

impl Client {
    fn read_input(&mut self, lines: &mut Vec<CommandLine>) {
        let mut buf = [0u8; 1024];
        // Bounded per call so one client cannot starve the loop.
        for _ in 0..16 {
            if self.eof || self.dead {
                break;
            }
            match self.stream.read(&mut buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.input.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
        while let Some(pos) = self.input.iter().position(|&b| b == b'\n') {
            let raw: Vec<u8> = self.input.drain(..=pos).collect();
            let text = String::from_utf8_lossy(&raw[..raw.len() - 1]);
            let line = text.trim_end_matches('\r').to_string();
            lines.push(CommandLine {
                client: self.id,
                line,
            });
        }
        if self.input.len() > MAX_LINE {
            self.output
                .extend_from_slice(b"error: command line too long\n");
            self.input.clear();
            self.eof = true;
        }
    }

    fn write_output(&mut self) {
        while !self.output.is_empty() && !self.dead {
            match self.stream.write(&self.output) {
                Ok(0) => self.dead = true,
                Ok(n) => {
                    self.output.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.dead = true,
            }
        }
    }
}

/// Client side (`vmbus-host ctl`): sends `line`, returns the body lines
/// and the final result.
pub fn request(
    path: &Path,
    line: &str,
    timeout: std::time::Duration,
) -> io::Result<(Vec<String>, Result<(), String>)> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(line.as_bytes())?;
    s.write_all(b"\n")?;
    let mut body = Vec::new();
    let mut reader = io::BufReader::new(s);
    loop {
        let mut l = String::new();
        if io::BufRead::read_line(&mut reader, &mut l)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the host closed the connection without a final ok/error line",
            ));
        }
        let l = l.trim_end_matches(['\n', '\r']).to_string();
        if l == "ok" {
            return Ok((body, Ok(())));
        }
        if let Some(why) = l.strip_prefix("error: ") {
            return Ok((body, Err(why.to_string())));
        }
        body.push(l);
    }
}
