// SPDX-License-Identifier: GPL-2.0

//! A listening unix stream socket that removes a stale socket file before
//! binding and unlinks its own file (only if it is still its own) when
//! dropped.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why a socket could not be set up.
#[derive(Debug)]
pub enum BindError {
    /// Another process listens on the path.
    InUse(PathBuf),
    /// The path exists and is not a socket; it is left alone.
    NotASocket(PathBuf),
    /// Any other failure.
    Io(PathBuf, io::Error),
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BindError::InUse(p) => write!(f, "{}: another process is listening there", p.display()),
            BindError::NotASocket(p) => {
                write!(
                    f,
                    "{}: exists and is not a socket; not removing it",
                    p.display()
                )
            }
            BindError::Io(p, e) => write!(f, "{}: {e}", p.display()),
        }
    }
}

impl std::error::Error for BindError {}

/// A non-blocking listening socket that owns its file.
pub struct Listener {
    inner: UnixListener,
    path: PathBuf,
    id: (u64, u64),
}

impl Listener {
    /// Binds `path`, first removing a stale socket nobody listens on.
    pub fn bind(path: &Path) -> Result<Self, BindError> {
        let io = |e| BindError::Io(path.to_path_buf(), e);
        match fs::symlink_metadata(path) {
            Ok(md) => {
                if !md.file_type().is_socket() {
                    return Err(BindError::NotASocket(path.to_path_buf()));
                }
                match UnixStream::connect(path) {
                    Ok(_) => return Err(BindError::InUse(path.to_path_buf())),
                    Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                        crate::log_info!("removing stale socket {}", path.display());
                        fs::remove_file(path).map_err(io)?;
                    }
                    Err(e) => return Err(io(e)),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let inner = UnixListener::bind(path).map_err(io)?;
        inner.set_nonblocking(true).map_err(io)?;
        let md = fs::symlink_metadata(path).map_err(io)?;
        Ok(Self {
            inner,
            path: path.to_path_buf(),
            id: (md.dev(), md.ino()),
        })
    }

    /// The socket file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listening socket.
    pub fn socket(&self) -> &UnixListener {
        &self.inner
    }

    /// Accepts one pending connection, if any.
    pub fn accept(&self) -> io::Result<Option<UnixStream>> {
        match self.inner.accept() {
            Ok((s, _)) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Unlink only our own socket, not one a newer process bound since.
        if let Ok(md) = fs::symlink_metadata(&self.path) {
            if (md.dev(), md.ino()) == self.id {
                if let Err(e) = fs::remove_file(&self.path) {
                    crate::log_warn!("cannot remove {}: {e}", self.path.display());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_socket_is_replaced_and_file_removed() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s");
        {
            let _old = UnixListener::bind(&p).unwrap();
        }
        // The old listener is closed but its file remains: stale.
        assert!(p.exists());
        let l = Listener::bind(&p).unwrap();
        assert!(l.accept().unwrap().is_none());
        assert!(matches!(Listener::bind(&p), Err(BindError::InUse(_))));
        // The probe connection of that bind attempt is pending.
        assert!(l.accept().unwrap().is_some());
        let _c = UnixStream::connect(&p).unwrap();
        assert!(l.accept().unwrap().is_some());
        drop(l);
        assert!(!p.exists());
        std::fs::write(&p, b"x").unwrap();
        assert!(matches!(Listener::bind(&p), Err(BindError::NotASocket(_))));
        assert!(p.exists());
    }
}
