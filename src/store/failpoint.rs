//! Fault injection for the crash-and-fault suite (`tests/crash.rs`).
//!
//! `MILLRACE_FAILPOINTS=name[#n]=action[,…]` makes the durable write named
//! `name` (its `n`th passage, default the first) fail: `abort` ends the process on the spot (as `kill -9`
//! would: no destructor, no cleanup), `eio` / `enospc` return that error,
//! `torn` writes half of an append and then returns ENOSPC. Unset, a
//! failpoint costs one check of a cached empty list.

use std::io;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Abort,
    Eio,
    Enospc,
    Torn,
}

/// (name, passage, action).
fn armed() -> &'static [(String, u32, Action)] {
    static ARMED: OnceLock<Vec<(String, u32, Action)>> = OnceLock::new();
    ARMED.get_or_init(|| {
        std::env::var("MILLRACE_FAILPOINTS")
            .unwrap_or_default()
            .split(',')
            .filter_map(|spec| {
                let (point, action) = spec.trim().split_once('=')?;
                let (name, nth) = match point.split_once('#') {
                    Some((n, k)) => (n, k.parse().ok()?),
                    None => (point, 1),
                };
                let action = match action {
                    "abort" => Action::Abort,
                    "eio" => Action::Eio,
                    "enospc" => Action::Enospc,
                    "torn" => Action::Torn,
                    _ => return None,
                };
                Some((name.to_string(), nth, action))
            })
            .collect()
    })
}

/// The action armed at this passage of `name`, if any (each call counts
/// as one passage).
pub fn action(name: &str) -> Option<Action> {
    let armed = armed();
    if armed.is_empty() {
        return None;
    }
    static PASSES: std::sync::Mutex<Vec<(String, u32)>> = std::sync::Mutex::new(Vec::new());
    let mut passes = PASSES.lock().unwrap_or_else(|p| p.into_inner());
    let count = match passes.iter_mut().find(|(n, _)| n == name) {
        Some((_, c)) => {
            *c += 1;
            *c
        }
        None => {
            passes.push((name.to_string(), 1));
            1
        }
    };
    armed
        .iter()
        .find(|(n, k, _)| n == name && *k == count)
        .map(|(.., a)| *a)
}

/// Passes, fails or ends the process as armed for `name`.
pub fn hit(name: &str) -> io::Result<()> {
    match action(name) {
        None | Some(Action::Torn) => Ok(()),
        Some(Action::Abort) => {
            eprintln!("failpoint {name}: abort");
            std::process::abort()
        }
        Some(Action::Eio) => Err(io::Error::from_raw_os_error(libc::EIO)),
        Some(Action::Enospc) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
    }
}
