//! Splitting an input file into messages: mbox envelope detection and
//! `>From ` unescaping, and the .msg conversion for files that start with
//! the compound-file magic bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: phishloop_fuzz::install_panic_hook(),
    |data: &[u8]| {
        phishloop_fuzz::run_contained(|| {
            let _ = phishloop_intake::split_input(data);
        });
    }
);
