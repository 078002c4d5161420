//! The content fingerprint of a mailbox copy, computed by the same analyser
//! code that produced the target's fingerprint, so equal visible text gives
//! equal values whatever the per-recipient headers contain.

use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_model::{InputFormat, Source};

/// An analyser kept for fingerprints only.
#[derive(Debug)]
pub(crate) struct Fingerprinter {
    analyzer: Analyzer,
}

impl Fingerprinter {
    /// Builds the analyser with the default analysis configuration, which
    /// names no networks or domains and so has nothing to reject.
    pub(crate) fn new() -> Result<Self, phishloop_analysis::ConfigError> {
        Ok(Fingerprinter { analyzer: Analyzer::new(Config::default(), Mode::Direct)? })
    }

    /// Computes the content fingerprint of `raw` as a direct message (no report
    /// unwrapping); `None` when the analysis produced no message.
    pub(crate) fn fingerprint(&self, raw: &[u8]) -> Option<String> {
        let source =
            Source { path: None, index: 0, size: raw.len() as u64, sha256: String::new(), format: InputFormat::Eml };
        let records = self.analyzer.analyze_message(source, raw);
        records.into_iter().next()?.message.map(|message| message.content_fingerprint)
    }
}
