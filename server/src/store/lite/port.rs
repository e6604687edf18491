//! The TCP port a Milvus Lite child serves: a free one to start on, and whether the process
//! listening on a port really is our child (from `/proc`), so that a port some other process
//! serves is never taken for ours.

use crate::store::error::StoreError;

pub(super) fn free_port() -> Result<u16, StoreError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| StoreError::io("finding a free port on 127.0.0.1", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| StoreError::io("finding a free port on 127.0.0.1", e))?
        .port();
    Ok(port)
}

/// Whether process `pid` holds the socket listening on TCP `port` (any local address, IPv4 or
/// IPv6), from `/proc/net/tcp{,6}` and `/proc/<pid>/fd`. `None` when that cannot be read.
pub(super) fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let want_port = format!(":{port:04X}");
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            const LISTEN: &str = "0A";
            if f.len() > 9 && f[1].ends_with(&want_port) && f[3] == LISTEN {
                inodes.push(format!("socket:[{}]", f[9]));
            }
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let owned = fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
    });
    Some(owned)
}

#[cfg(test)]
mod tests {
    use std::process::Command;
    use std::time::Duration;

    use super::super::process::kill_and_reap;
    use super::*;

    #[test]
    fn a_listener_belongs_to_the_process_that_holds_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(listener_owned_by(std::process::id(), port), Some(true));
        let mut other = Command::new("sleep").arg("30").spawn().unwrap();
        assert_eq!(listener_owned_by(other.id(), port), Some(false));
        kill_and_reap(&mut other, Duration::from_millis(100));
        drop(listener);
        // Nobody listens there any more: unknown, never "someone else".
        assert_eq!(listener_owned_by(std::process::id(), port), None);
    }
}
