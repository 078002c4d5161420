//! Support code shared by the fuzz targets in `fuzz_targets/`.
//!
//! libfuzzer-sys installs a panic hook that aborts the process on every
//! panic, including one that the code under test catches on purpose.
//! phishloop catches panics of the `msg_parser` crate (and of its RTF
//! decoder) and turns them into an error, so under that hook every malformed
//! .msg would count as a crash. [`install_panic_hook`] replaces the hook:
//! a panic that the product contains is ignored, and a panic that escapes
//! the product aborts with the message, location and backtrace of the
//! original panic.
//!
//! Set `PHISHLOOP_FUZZ_STRICT_PANICS=1` to keep libfuzzer-sys's hook and
//! stop at every panic, contained or not. That mode lists the inputs on
//! which a dependency panics even though phishloop recovers.

use std::backtrace::Backtrace;
use std::cell::RefCell;
use std::panic::{self, AssertUnwindSafe, PanicHookInfo};

/// Environment variable that keeps the abort-on-every-panic hook.
pub const STRICT_PANICS_VARIABLE: &str = "PHISHLOOP_FUZZ_STRICT_PANICS";

thread_local! {
    /// Message, location and backtrace of the latest panic on this thread,
    /// written by the hook and printed only when the panic escapes the code
    /// under test.
    static LAST_PANIC: RefCell<Option<(String, Backtrace)>> = const { RefCell::new(None) };
}

/// Replaces libfuzzer-sys's panic hook with one that records the panic
/// instead of aborting, unless [`STRICT_PANICS_VARIABLE`] is set. Call it
/// once, from the `init:` block of `fuzz_target!`.
pub fn install_panic_hook() {
    if std::env::var_os(STRICT_PANICS_VARIABLE).is_some_and(|value| !value.is_empty()) {
        return;
    }
    panic::set_hook(Box::new(record_panic));
}

fn record_panic(info: &PanicHookInfo<'_>) {
    // The frames are symbolised only when the backtrace is printed, so a
    // contained panic, which can occur on many inputs of the `msg` target,
    // costs one stack walk.
    let panic = (info.to_string(), Backtrace::force_capture());
    LAST_PANIC.with(|last| *last.borrow_mut() = Some(panic));
}

/// Runs one fuzz iteration. A panic that `body` does not catch itself is a
/// finding: its description goes to stderr and the process aborts, which
/// libFuzzer reports as a crash and saves the input.
pub fn run_contained(body: impl FnOnce()) {
    LAST_PANIC.with(|last| *last.borrow_mut() = None);
    if panic::catch_unwind(AssertUnwindSafe(body)).is_ok() {
        return;
    }

    eprintln!("==phishloop-fuzz== a panic escaped the code under test");
    match LAST_PANIC.with(|last| last.borrow_mut().take()) {
        Some((message, backtrace)) => eprintln!("{message}\nbacktrace of the panic:\n{backtrace}"),
        None => eprintln!("the panic hook recorded no message"),
    }
    std::process::abort();
}
