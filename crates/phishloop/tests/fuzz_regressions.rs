//! Inputs that fuzzing found to crash or hang the analysis, kept as
//! regression tests. Each file in `tests/data/fuzz/` must be analysed in
//! every report mode without a panic.

mod support;

use phishloop_analysis::Mode;

#[test]
fn fuzz_findings_analyse_cleanly() {
    let folder = support::data_dir().join("fuzz");
    let mut files: Vec<_> =
        std::fs::read_dir(&folder).expect("fuzz folder exists").flatten().map(|entry| entry.path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no regression inputs in {}", folder.display());

    for mode in [Mode::Auto, Mode::Report, Mode::Direct] {
        let analyzer = support::analyzer("", mode);
        for file in &files {
            let bytes = std::fs::read(file).expect("readable");
            let name = file.display().to_string();
            // An unreadable .msg is an error, not a panic; both are fine here.
            let _ = analyzer.analyze_input(Some(&name), &bytes);
        }
    }
}
