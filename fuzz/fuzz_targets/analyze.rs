//! The whole analysis of one input file with the default configuration:
//! splitting (mbox, .msg), report unwrapping, MIME parsing and every
//! indicator extractor. Each input is analysed in `Mode::Auto` and in
//! `Mode::Report`, because report mode takes the unwrapping paths (and
//! the manual-review path) on messages that auto mode treats as direct.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use phishloop_analysis::{Analyzer, Config, Mode};

fn analyzers() -> &'static [Analyzer; 2] {
    static ANALYZERS: OnceLock<[Analyzer; 2]> = OnceLock::new();
    ANALYZERS.get_or_init(|| {
        let build = |mode| Analyzer::new(Config::default(), mode).expect("the default configuration is valid");
        [build(Mode::Auto), build(Mode::Report)]
    })
}

fuzz_target!(
    init: {
        phishloop_fuzz::install_panic_hook();
        analyzers();
    },
    |data: &[u8]| {
        phishloop_fuzz::run_contained(|| {
            for analyzer in analyzers() {
                let _ = analyzer.analyze_input(None, data);
            }
        });
    }
);
