//! The embedded default templates, compiled into the binary.

/// Every embedded template as (name, source).
pub(crate) const EMBEDDED: &[(&str, &str)] = &[
    ("_advice.html", include_str!("../templates/_advice.html")),
    ("_advice.txt", include_str!("../templates/_advice.txt")),
    ("_impact.html", include_str!("../templates/_impact.html")),
    ("_impact.txt", include_str!("../templates/_impact.txt")),
    ("_layout.html", include_str!("../templates/_layout.html")),
    ("_lure.html", include_str!("../templates/_lure.html")),
    ("_lure.txt", include_str!("../templates/_lure.txt")),
    ("acknowledgement/default.body.html", include_str!("../templates/acknowledgement/default.body.html")),
    ("acknowledgement/default.body.txt", include_str!("../templates/acknowledgement/default.body.txt")),
    ("acknowledgement/default.subject.txt", include_str!("../templates/acknowledgement/default.subject.txt")),
    ("lesson/default.body.html", include_str!("../templates/lesson/default.body.html")),
    ("lesson/default.body.txt", include_str!("../templates/lesson/default.body.txt")),
    ("lesson/default.subject.txt", include_str!("../templates/lesson/default.subject.txt")),
    ("lesson/simulation.body.html", include_str!("../templates/lesson/simulation.body.html")),
    ("lesson/simulation.body.txt", include_str!("../templates/lesson/simulation.body.txt")),
    ("lesson/simulation.subject.txt", include_str!("../templates/lesson/simulation.subject.txt")),
    ("outcome/benign.body.html", include_str!("../templates/outcome/benign.body.html")),
    ("outcome/benign.body.txt", include_str!("../templates/outcome/benign.body.txt")),
    ("outcome/benign.subject.txt", include_str!("../templates/outcome/benign.subject.txt")),
    ("outcome/default.body.html", include_str!("../templates/outcome/default.body.html")),
    ("outcome/default.body.txt", include_str!("../templates/outcome/default.body.txt")),
    ("outcome/default.subject.txt", include_str!("../templates/outcome/default.subject.txt")),
    ("outcome/malicious.body.html", include_str!("../templates/outcome/malicious.body.html")),
    ("outcome/malicious.body.txt", include_str!("../templates/outcome/malicious.body.txt")),
    ("outcome/malicious.subject.txt", include_str!("../templates/outcome/malicious.subject.txt")),
    ("outcome/simulation.body.html", include_str!("../templates/outcome/simulation.body.html")),
    ("outcome/simulation.body.txt", include_str!("../templates/outcome/simulation.body.txt")),
    ("outcome/simulation.subject.txt", include_str!("../templates/outcome/simulation.subject.txt")),
    ("outcome/spam.body.html", include_str!("../templates/outcome/spam.body.html")),
    ("outcome/spam.body.txt", include_str!("../templates/outcome/spam.body.txt")),
    ("outcome/spam.subject.txt", include_str!("../templates/outcome/spam.subject.txt")),
];

/// Returns the source of an embedded template.
pub(crate) fn embedded_source(name: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(embedded, _)| *embedded == name).map(|(_, source)| *source)
}
