//! Interruptions: SIGINT (Ctrl-C), SIGTERM (`kill`, `timeout`) and SIGHUP (a closed terminal)
//! end the program after removing its temporary files and locks (the library's
//! `output::remove_temporaries`), so an interrupted run leaves every destination with its
//! previous content and nothing beside it. The exit code is the shell's 128 + the signal:
//! 130, 143 and 129. A signal the program was started with ignored (`nohup`) stays ignored.
//!
//! The signals are blocked in every thread (threads inherit the mask) and one thread waits for
//! them with `sigwait`, so the cleanup runs as ordinary code, not in a signal handler.

use std::io::Write;

/// Starts the thread that waits for the signals; call before any other thread starts.
pub fn install() {
    let mut set = empty_set();
    let mut any = false;
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        if !ignored(sig) {
            // SAFETY: `set` is an initialised signal set and `sig` a valid signal number.
            unsafe { libc::sigaddset(&mut set, sig) };
            any = true;
        }
    }
    // SAFETY: a valid set; the old mask is not wanted.
    if !any || unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) } != 0 {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            let mut sig = 0;
            // SAFETY: `set` is valid and `sig` a valid place for the result.
            if unsafe { libc::sigwait(&set, &mut sig) } == 0 {
                let removed = rewind::output::remove_temporaries();
                let name = match sig {
                    libc::SIGINT => "SIGINT",
                    libc::SIGTERM => "SIGTERM",
                    _ => "SIGHUP",
                };
                let _ = writeln!(
                    std::io::stderr(),
                    "\nrewind: interrupted by {name}; removed {removed} temporary file{}, every output keeps its previous content",
                    if removed == 1 { "" } else { "s" }
                );
                std::process::exit(128 + sig);
            }
        });
    if spawned.is_err() {
        // Without the waiting thread, the signals must keep their default action.
        // SAFETY: as above.
        unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut()) };
    }
}

fn empty_set() -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the zeroed set it is given.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        set
    }
}

/// Whether `sig` is ignored now (as `nohup` leaves SIGHUP).
fn ignored(sig: libc::c_int) -> bool {
    // SAFETY: a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(sig, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}
