//! Outlook .msg to RFC 5322 conversion: the `cfb` structure check, the
//! `msg_parser` property reader (its panics are contained by phishloop) and
//! the MIME rendering, embedded .msg attachments included.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: phishloop_fuzz::install_panic_hook(),
    |data: &[u8]| {
        phishloop_fuzz::run_contained(|| {
            let _ = phishloop_intake::msg_to_rfc822(data);
        });
    }
);
