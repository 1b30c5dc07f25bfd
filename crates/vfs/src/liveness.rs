//! Whether another mount's process is gone, so its session can end before its lease runs out.
//!
//! A PID names a process only among processes that share a kernel boot and a PID namespace:
//! two containers on one node may each run a mount as PID 7, and a host name says nothing
//! about either (containers often share the node's). A session therefore records its
//! [`host_identity`]; a PID is looked up only when the identities match, and otherwise the
//! lease alone decides.

use std::path::Path;

/// This process's boot and PID namespace (`BOOT_ID/pid:[INODE]`), or empty when they cannot
/// be told — or when `/proc` belongs to another PID namespace than ours (a process in a new
/// namespace that kept its parent's `/proc`), where our PIDs would name other processes.
pub fn host_identity() -> String {
    identity_at(Path::new("/proc"), std::process::id()).unwrap_or_default()
}

fn identity_at(proc: &Path, own_pid: u32) -> Option<String> {
    let boot = std::fs::read_to_string(proc.join("sys/kernel/random/boot_id")).ok()?;
    let self_pid = std::fs::read_link(proc.join("self")).ok()?;
    if self_pid.to_str()? != own_pid.to_string() {
        return None;
    }
    let namespace = std::fs::read_link(proc.join("self/ns/pid")).ok()?;
    Some(format!("{}/{}", boot.trim(), namespace.to_str()?))
}

/// Whether process `pid` of this PID namespace has exited (no entry, or only a zombie
/// waiting for its parent to collect it: a killed daemon whose parent does not reap).
pub fn process_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    // The state follows the command name, which is in parentheses and may hold anything.
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X"))
}

/// Whether the builder of a clone is gone: its process, when it ran in this boot and PID
/// namespace, or else its heartbeat's lease.
pub fn clone_is_dead(record: &datenlord_meta::CloneRecord) -> bool {
    let own = host_identity();
    let ours = !own.is_empty() && record.host_id == own && record.pid != std::process::id();
    ours && process_gone(record.pid) || record.expired()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_an_identity_and_is_alive() {
        let id = host_identity();
        assert!(id.contains("/pid:["), "{id}");
        assert!(!process_gone(std::process::id()));
    }

    #[test]
    fn an_exited_child_is_gone_even_before_it_is_reaped() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !process_gone(pid) {
            assert!(
                std::time::Instant::now() < deadline,
                "child {pid} never exited"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        child.wait().unwrap();
        assert!(process_gone(pid));
    }

    #[test]
    fn a_proc_of_another_namespace_gives_no_identity() {
        assert!(identity_at(Path::new("/proc"), std::process::id()).is_some());
        assert!(identity_at(Path::new("/proc"), std::process::id() + 1).is_none());
        assert!(identity_at(Path::new("/nonexistent"), std::process::id()).is_none());
    }
}
