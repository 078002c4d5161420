//! Grouping a folder of messages into campaigns with the real analyser.
//!
//! `evaluate_folder` analyses every file of a folder, computes signatures and
//! groups them with `CampaignGrouping`, the store's rules in memory. The
//! ignored test runs it on the folder named by `PHISHLOOP_CAMPAIGN_EVAL_DIR`:
//!
//! ```text
//! PHISHLOOP_CAMPAIGN_EVAL_DIR=/path/to/eml-folder \
//!     cargo test -p phishloop-campaign --test folder_eval -- --ignored --nocapture
//! ```

use std::path::Path;

use phishloop_analysis::{Analyzer, Config, Mode};
use phishloop_campaign::{CampaignConfig, CampaignGrouping, signature};

/// What grouping a folder gave.
#[derive(Debug, Default)]
struct Evaluation {
    files: usize,
    /// Messages with an analysis (a report without an extractable original has none).
    messages: usize,
    campaigns: usize,
    /// Campaigns of one message.
    singletons: usize,
    /// The ten largest campaigns, largest first.
    largest: Vec<usize>,
    /// Messages that joined a campaign by text bands alone.
    text_only_joins: usize,
    merges: usize,
    /// Messages whose signature has no key at all.
    without_keys: usize,
    /// The strong keys found in the most messages, with their message counts.
    commonest_keys: Vec<(usize, String)>,
}

fn evaluate_folder(folder: &Path) -> Evaluation {
    let analyzer = Analyzer::new(Config::default(), Mode::Auto).expect("default analyser");
    let config = CampaignConfig::default();
    let mut paths: Vec<_> = std::fs::read_dir(folder)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", folder.display()))
        .map(|entry| entry.expect("folder entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();

    let mut grouping = CampaignGrouping::new();
    let mut key_counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let mut evaluation = Evaluation { files: paths.len(), ..Evaluation::default() };
    for path in &paths {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let Ok(records) = analyzer.analyze_input(None, &bytes) else {
            continue;
        };
        for analysis in records.into_iter().filter_map(|record| record.message) {
            let keys = signature(&analysis, &config).keys;
            for key in keys.iter().filter(|key| key.kind.is_strong()) {
                *key_counts.entry(format!("{}:{}", key.kind, key.value)).or_default() += 1;
            }
            evaluation.messages += 1;
            evaluation.without_keys += usize::from(keys.is_empty());
            let grouped = grouping.add(&keys);
            evaluation.text_only_joins += usize::from(grouped.by_text_only);
        }
    }

    let sizes = grouping.sizes();
    evaluation.campaigns = sizes.len();
    evaluation.singletons = sizes.iter().filter(|size| **size == 1).count();
    evaluation.largest = sizes.into_iter().take(10).collect();
    evaluation.merges = grouping.merges();
    let mut commonest: Vec<(usize, String)> = key_counts.into_iter().map(|(key, count)| (count, key)).collect();
    commonest.sort_unstable_by(|left, right| right.cmp(left));
    evaluation.commonest_keys = commonest.into_iter().take(15).collect();
    evaluation
}

fn lure(name: &str, tracking_id: &str) -> String {
    format!(
        "From: Shared Files <share@docs-notice.example>\r\n\
         To: {name} <{name}@corp.example>\r\n\
         Subject: {name}, a document was shared with you\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Hi {name},\r\n\
         A colleague shared the quarterly budget review with you. The document expires in 48 hours,\r\n\
         so open it soon and sign in with your work account to keep access.\r\n\
         https://docs-notice.example/open/{tracking_id}\r\n"
    )
}

#[test]
fn folder_of_variants_and_strangers() {
    let folder = Path::new(env!("CARGO_TARGET_TMPDIR")).join("campaign-folder-eval");
    let _ = std::fs::remove_dir_all(&folder);
    std::fs::create_dir_all(&folder).expect("create folder");
    for (index, name) in ["ana", "ben", "chloe", "dmitri"].iter().enumerate() {
        std::fs::write(folder.join(format!("lure-{index}.eml")), lure(name, &format!("t{index}x9"))).expect("write");
    }
    let stranger = "From: Lottery Desk <winner@prize-claims.example>\r\n\
                    Subject: You won\r\n\
                    Content-Type: text/plain\r\n\
                    \r\n\
                    Congratulations, your address was drawn in the annual lottery. Reply with your bank details.\r\n";
    std::fs::write(folder.join("stranger.eml"), stranger).expect("write");

    let evaluation = evaluate_folder(&folder);

    assert_eq!(evaluation.files, 5);
    assert_eq!(evaluation.messages, 5);
    assert_eq!(evaluation.campaigns, 2, "{evaluation:?}");
    assert_eq!(evaluation.largest, vec![4, 1]);
    assert_eq!(evaluation.singletons, 1);
}

#[test]
#[ignore = "needs a folder of messages in PHISHLOOP_CAMPAIGN_EVAL_DIR"]
fn folder_from_environment() {
    let folder = std::env::var("PHISHLOOP_CAMPAIGN_EVAL_DIR").expect("set PHISHLOOP_CAMPAIGN_EVAL_DIR to a folder");
    let started = std::time::Instant::now();

    let evaluation = evaluate_folder(Path::new(&folder));

    println!("{evaluation:#?}");
    println!("elapsed: {:.1} s", started.elapsed().as_secs_f64());
}
