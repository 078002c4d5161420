//! Who clicked: parsing proxy, DNS and Defender evidence and classifying a
//! 20-recipient credential phish.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use phishloop_identity::{
    Campaign, ClickFilter, EvidenceKind, Exclusion, FieldMap, LogError, LogSource, Verdict, classify_clicks, parse_csv,
    parse_json_lines, parse_url_click_events,
};

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

fn campaign() -> Campaign {
    Campaign {
        urls: vec!["https://login.micros0ft-support.example/owa/auth.php?id=7".to_string()],
        domains: vec!["micros0ft-support.example".to_string()],
        delivered_at: at("2026-12-01T09:00:00Z"),
        recipients: (1..=20).map(|n| format!("user{n:02}@corp.example")).collect(),
        ip_owners: BTreeMap::new(),
    }
}

/// A gateway export with its own column names: one link-preview fetch,
/// two real clicks, one credential POST, and unrelated traffic.
const PROXY_CSV: &str = "\
timestamp,username,src_ip,http_method,request_url,useragent,http_status
2026-12-01T08:55:00Z,CORP\\user09,10.0.0.9,GET,https://login.micros0ft-support.example/owa/auth.php?id=7,Mozilla/5.0 (Windows NT 10.0),200
2026-12-01T09:01:10Z,user03@corp.example,10.0.0.3,GET,https://login.micros0ft-support.example/owa/auth.php?id=7,Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots),200
2026-12-01T09:04:00Z,CORP\\user05,10.0.0.5,GET,https://login.micros0ft-support.example/owa/auth.php?id=7,Mozilla/5.0 (Windows NT 10.0; Win64; x64),200
2026-12-01T09:04:40Z,CORP\\user05,10.0.0.5,POST,https://login.micros0ft-support.example/owa/auth.php,Mozilla/5.0 (Windows NT 10.0; Win64; x64),302
2026-12-01T09:06:00Z,user12,10.0.0.12,GET,https://cdn.micros0ft-support.example/logo.png,Mozilla/5.0 (Macintosh),200
2026-12-01T09:07:00Z,user07@corp.example,10.0.0.7,GET,https://intranet.corp.example/,Mozilla/5.0,200
not-a-time,user08,10.0.0.8,GET,https://login.micros0ft-support.example/,Mozilla/5.0,200
";

fn proxy_fields() -> FieldMap {
    FieldMap {
        time: Some("timestamp".to_string()),
        user: Some("username".to_string()),
        client_ip: Some("src_ip".to_string()),
        method: Some("http_method".to_string()),
        url: Some("request_url".to_string()),
        host: None,
        user_agent: Some("useragent".to_string()),
        status: Some("http_status".to_string()),
        time_format: None,
    }
}

#[test]
fn twenty_recipients_three_clicks_one_scanner() {
    let log = parse_csv(PROXY_CSV.as_bytes(), &proxy_fields(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    assert!(log.missing_columns.is_empty());
    assert_eq!(log.defects.len(), 1, "the line with a bad time");
    assert_eq!(log.defects[0].line, 8);
    assert_eq!(report.people.len(), 20);
    let verdict = |address: &str| report.verdict_of(address).expect(address).verdict;
    assert_eq!(verdict("user05@corp.example"), Verdict::SubmittedCredentials);
    assert_eq!(verdict("user12@corp.example"), Verdict::Clicked);
    assert_eq!(verdict("user03@corp.example"), Verdict::NotClicked, "link preview is not a click");
    assert_eq!(verdict("user09@corp.example"), Verdict::NotClicked, "before delivery");
    let clicked = report.people.iter().filter(|p| p.verdict != Verdict::NotClicked).count();
    assert_eq!(clicked, 2);
    assert_eq!(report.unrelated_entries, 1);
}

#[test]
fn verdicts_carry_evidence_lines() {
    let log = parse_csv(PROXY_CSV.as_bytes(), &proxy_fields(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    let user05 = report.verdict_of("user05@corp.example").expect("user05");
    let kinds: Vec<EvidenceKind> = user05.evidence.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, vec![EvidenceKind::Visit, EvidenceKind::CredentialPost]);
    assert_eq!(user05.evidence[1].line, 5);
    assert!(user05.evidence[1].raw.contains("POST"));
    assert!(user05.recipient);
}

#[test]
fn exclusions_name_their_reason() {
    let log = parse_csv(PROXY_CSV.as_bytes(), &proxy_fields(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    let reasons: Vec<&Exclusion> = report.excluded.iter().map(|e| &e.exclusion).collect();
    assert!(reasons.contains(&&Exclusion::BeforeDelivery), "{reasons:?}");
    assert!(reasons.contains(&&Exclusion::ScannerUserAgent { pattern: "slackbot".to_string() }), "{reasons:?}");
    assert_eq!(reasons.len(), 2);
}

#[test]
fn burst_from_one_ip_is_excluded() {
    let mut csv = String::from("time,user,client_ip,method,url,user_agent\n");
    for n in 1..=6 {
        csv.push_str(&format!(
            "2026-12-01T09:00:{:02}Z,user{n:02}@corp.example,198.51.100.7,GET,https://login.micros0ft-support.example/owa/auth.php?id=7,Mozilla/5.0\n",
            n * 5
        ));
    }
    csv.push_str("2026-12-01T09:30:00Z,user15@corp.example,198.51.100.7,GET,https://login.micros0ft-support.example/owa/auth.php?id=7,Mozilla/5.0\n");
    let log = parse_csv(csv.as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    for n in 1..=6 {
        let address = format!("user{n:02}@corp.example");
        assert_eq!(report.verdict_of(&address).expect("verdict").verdict, Verdict::NotClicked, "{address}");
    }
    assert_eq!(
        report.verdict_of("user15@corp.example").expect("verdict").verdict,
        Verdict::Clicked,
        "outside the window"
    );
    let burst = report.excluded.iter().find(|e| matches!(e.exclusion, Exclusion::Burst { .. })).expect("burst");
    assert_eq!(burst.exclusion, Exclusion::Burst { client_ip: "198.51.100.7".parse().expect("ip"), users: 6 });
}

#[test]
fn scanner_network_and_head_are_excluded() {
    let csv = "time,user,client_ip,method,url,user_agent\n\
        2026-12-01T09:10:00Z,user01@corp.example,203.0.113.40,GET,https://login.micros0ft-support.example/,Mozilla/5.0\n\
        2026-12-01T09:11:00Z,user02@corp.example,10.0.0.2,HEAD,https://login.micros0ft-support.example/,Mozilla/5.0\n";
    let log = parse_csv(csv.as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect("parse");
    let filter = ClickFilter { scanner_networks: vec!["203.0.113.0/24".to_string()], ..ClickFilter::default() };

    let report = classify_clicks(&campaign(), &log.entries, &filter);

    assert_eq!(report.excluded[0].exclusion, Exclusion::ScannerNetwork { network: "203.0.113.0/24".to_string() });
    assert_eq!(report.excluded[1].exclusion, Exclusion::HeadRequest);
    assert!(report.people.iter().all(|p| p.verdict == Verdict::NotClicked));
}

#[test]
fn missing_column_names_alternatives() {
    let no_time = parse_csv("when,who\n".as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect_err("error");
    let no_url = parse_csv("time,who\n".as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect_err("error");

    assert_eq!(
        no_time,
        LogError::MissingColumn { field: "time", column: "time".to_string(), available: "when, who".to_string() }
    );
    assert!(no_time.to_string().contains("time = \"COLUMN\" under [identity.clicks.field_maps.NAME]"), "{no_time}");
    assert!(no_url.to_string().contains("url = \"COLUMN\" or host = \"COLUMN\""), "{no_url}");
    assert!(no_url.to_string().contains("field_map=NAME"), "{no_url}");
    let dns_map = parse_csv("time,user,url\n".as_bytes(), &FieldMap::dns(), LogSource::Dns).expect_err("error");
    assert!(dns_map.to_string().starts_with("the log has no host column \"query\";"), "{dns_map}");
    let semicolons = parse_csv("time;user;url\n".as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect_err("error");
    assert!(semicolons.to_string().contains("read as comma-separated CSV"), "{semicolons}");
}

#[test]
fn json_lines_with_nested_paths() {
    let input = r#"{"@timestamp":"2026-12-01T09:12:00.250Z","user":{"email":"user11@corp.example"},"http":{"request":{"method":"POST"}},"url":{"full":"https://login.micros0ft-support.example/owa/auth.php"},"user_agent":{"original":"Mozilla/5.0"}}
{"broken json
{"@timestamp":"2026-12-01T09:13:00Z","user":{"email":"user14@corp.example"},"http":{"request":{"method":"GET"}},"url":{"full":"https://login.micros0ft-support.example/"},"user_agent":{"original":"Mozilla/5.0"}}
"#;
    let fields = FieldMap {
        time: Some("@timestamp".to_string()),
        user: Some("user.email".to_string()),
        client_ip: None,
        method: Some("http.request.method".to_string()),
        url: Some("url.full".to_string()),
        host: None,
        user_agent: Some("user_agent.original".to_string()),
        status: None,
        time_format: None,
    };

    let log = parse_json_lines(input, &fields, LogSource::Proxy).expect("parse");
    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    assert_eq!(log.entries.len(), 2);
    assert_eq!(log.defects.len(), 1);
    assert_eq!(log.defects[0].line, 2);
    assert_eq!(report.verdict_of("user11@corp.example").expect("user11").verdict, Verdict::SubmittedCredentials);
    assert_eq!(report.verdict_of("user14@corp.example").expect("user14").verdict, Verdict::Clicked);
}

#[test]
fn dns_lookups_attributed_by_ip_owner() {
    let csv = "time,client_ip,query\n\
        1796116500,10.0.0.16,login.micros0ft-support.example.\n\
        1796116560,10.0.0.99,login.micros0ft-support.example.\n\
        1796116620,10.0.0.16,www.corp.example.\n";
    let log = parse_csv(csv.as_bytes(), &FieldMap::dns(), LogSource::Dns).expect("parse");
    assert_eq!(log.missing_columns, vec!["user".to_string()]);
    let mut campaign = campaign();
    campaign.ip_owners.insert("10.0.0.16".parse().expect("ip"), "user16@corp.example".to_string());

    let report = classify_clicks(&campaign, &log.entries, &ClickFilter::default());

    let user16 = report.verdict_of("user16@corp.example").expect("user16");
    assert_eq!(user16.verdict, Verdict::Clicked);
    assert_eq!(user16.evidence[0].kind, EvidenceKind::DnsLookup);
    assert_eq!(report.excluded.len(), 1);
    assert_eq!(report.excluded[0].exclusion, Exclusion::Unattributed);
}

#[test]
fn defender_url_click_events() {
    let reply = r#"{
      "schema": [{"Name": "Timestamp", "Type": "DateTime"}],
      "results": [
        {"Timestamp": "2026-12-01T09:20:00Z", "Url": "https://login.micros0ft-support.example/owa/auth.php?id=7", "ActionType": "ClickAllowed", "AccountUpn": "User18@corp.example", "IPAddress": "192.0.2.18", "IsClickedThrough": false, "Workload": "Email"},
        {"Timestamp": "2026-12-01T09:21:00Z", "Url": "https://login.micros0ft-support.example/owa/auth.php?id=7", "ActionType": "ClickBlocked", "AccountUpn": "user19@corp.example", "IPAddress": "192.0.2.19", "IsClickedThrough": false, "Workload": "Email"},
        {"Timestamp": "2026-12-01T09:22:00Z", "Url": "https://login.micros0ft-support.example/owa/auth.php?id=7", "ActionType": "ClickBlocked", "AccountUpn": "user20@corp.example", "IPAddress": "192.0.2.20", "IsClickedThrough": true, "Workload": "Email"},
        {"Url": "https://login.micros0ft-support.example/", "ActionType": "ClickAllowed"}
      ]
    }"#;

    let log = parse_url_click_events(reply).expect("parse");
    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    assert_eq!(log.defects.len(), 1, "the row without a Timestamp");
    assert_eq!(report.verdict_of("user18@corp.example").expect("user18").verdict, Verdict::Clicked);
    assert_eq!(report.verdict_of("user19@corp.example").expect("user19").verdict, Verdict::NotClicked);
    assert_eq!(report.verdict_of("user20@corp.example").expect("user20").verdict, Verdict::Clicked, "clicked through");
    assert_eq!(report.excluded[0].exclusion, Exclusion::BlockedByDefender);
}

#[test]
fn forwarded_clicker_is_not_a_recipient() {
    let csv = "time,user,client_ip,method,url,user_agent\n\
        2026-12-01T09:40:00Z,outsider@corp.example,10.0.0.40,GET,https://login.micros0ft-support.example/,Mozilla/5.0\n";
    let log = parse_csv(csv.as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());

    let outsider = report.verdict_of("outsider@corp.example").expect("outsider");
    assert_eq!(outsider.verdict, Verdict::Clicked);
    assert!(!outsider.recipient);
    assert_eq!(report.people.len(), 21);
}

#[test]
fn hostile_lines_do_not_panic() {
    let inputs = [
        "time,user\n\u{0}\u{1},\"unterminated\n",
        "time,user,client_ip,method,url\n2026-12-01T09:40:00Z,,999.1.1.1,GET,http://[::1\n",
        "time,url\n99999999999999999999,https://login.micros0ft-support.example/\n",
    ];
    for input in inputs {
        let fields = FieldMap { host: None, user_agent: None, status: None, ..FieldMap::proxy() };
        let fields = FieldMap {
            user: input.contains("user").then(|| "user".to_string()),
            client_ip: input.contains("client_ip").then(|| "client_ip".to_string()),
            method: input.contains("method").then(|| "method".to_string()),
            url: input.contains("url").then(|| "url".to_string()),
            ..fields
        };
        if let Ok(log) = parse_csv(input.as_bytes(), &fields, LogSource::Proxy) {
            let _ = classify_clicks(&campaign(), &log.entries, &ClickFilter::default());
        }
    }
}

/// A form on a shared form service: only the form's own path and its
/// sibling answer page count, and DNS look-ups of the shared host do not.
#[test]
fn lure_page_on_shared_host_matches_by_path() {
    let campaign = Campaign {
        urls: vec!["https://docs.google.com/forms/d/e/1FAIpQLSf-lure/viewform?usp=sf_link".to_string()],
        domains: Vec::new(),
        ..campaign()
    };
    let csv = "\
timestamp,username,src_ip,http_method,request_url,useragent,http_status
2026-12-01T09:10:00Z,user01@corp.example,10.0.0.1,GET,https://docs.google.com/forms/d/e/1FAIpQLSf-lure/viewform,Mozilla/5.0,200
2026-12-01T09:11:00Z,user01@corp.example,10.0.0.1,POST,https://docs.google.com/forms/d/e/1FAIpQLSf-lure/formResponse,Mozilla/5.0,200
2026-12-01T09:12:00Z,user02@corp.example,10.0.0.2,GET,https://docs.google.com/forms/d/e/1FAIpQLSf-other/viewform,Mozilla/5.0,200
2026-12-01T09:13:00Z,user03@corp.example,10.0.0.3,GET,https://docs.google.com/document/d/quarterly-plan/edit,Mozilla/5.0,200
2026-12-01T09:14:00Z,user04@corp.example,10.0.0.4,GET,https://DOCS.google.com/forms/d/e/1FAIpQLSf-lure//viewform,Mozilla/5.0,200
";
    let log = parse_csv(csv.as_bytes(), &proxy_fields(), LogSource::Proxy).expect("parse");

    let report = classify_clicks(&campaign, &log.entries, &ClickFilter::default());

    let verdict = |address: &str| report.verdict_of(address).expect(address).verdict;
    assert_eq!(verdict("user01@corp.example"), Verdict::SubmittedCredentials);
    assert_eq!(verdict("user02@corp.example"), Verdict::NotClicked, "another form on the same service");
    assert_eq!(verdict("user03@corp.example"), Verdict::NotClicked, "another document on the same host");
    assert_eq!(verdict("user04@corp.example"), Verdict::Clicked, "host case and empty segments do not matter");
    assert_eq!(report.unrelated_entries, 2);
}

/// A page one folder deep on a site builder: its folder holds everyone's
/// sites, so only the page itself and what lies below it match.
#[test]
fn shallow_folder_on_site_builder_is_not_widened() {
    let campaign = Campaign {
        urls: vec!["https://sites.example-builder.test/view/payroll-update".to_string()],
        domains: Vec::new(),
        ..campaign()
    };
    let proxy = "\
timestamp,username,src_ip,http_method,request_url,useragent,http_status
2026-12-01T09:10:00Z,user01@corp.example,10.0.0.1,GET,https://sites.example-builder.test/view/payroll-update/login,Mozilla/5.0,200
2026-12-01T09:11:00Z,user02@corp.example,10.0.0.2,GET,https://sites.example-builder.test/view/team-picnic,Mozilla/5.0,200
2026-12-01T09:12:00Z,user03@corp.example,10.0.0.3,GET,https://sites.example-builder.test/,Mozilla/5.0,200
";
    let log = parse_csv(proxy.as_bytes(), &proxy_fields(), LogSource::Proxy).expect("parse");
    let dns = "time,client_ip,query\n2026-12-01T09:10:00Z,10.0.0.4,sites.example-builder.test\n";
    let dns_log = parse_csv(dns.as_bytes(), &FieldMap::dns(), LogSource::Dns).expect("parse dns");
    let mut campaign = campaign;
    campaign.ip_owners.insert("10.0.0.4".parse().expect("ip"), "user04@corp.example".to_string());
    let entries: Vec<_> = log.entries.into_iter().chain(dns_log.entries).collect();

    let report = classify_clicks(&campaign, &entries, &ClickFilter::default());

    let verdict = |address: &str| report.verdict_of(address).expect(address).verdict;
    assert_eq!(verdict("user01@corp.example"), Verdict::Clicked);
    assert_eq!(verdict("user02@corp.example"), Verdict::NotClicked);
    assert_eq!(verdict("user03@corp.example"), Verdict::NotClicked);
    assert_eq!(verdict("user04@corp.example"), Verdict::NotClicked, "a DNS look-up of a shared host");
}

#[test]
fn empty_logs_and_short_lines() {
    let empty = parse_csv("".as_bytes(), &FieldMap::proxy(), LogSource::Proxy);
    let empty_lines = parse_json_lines("\n  \n", &FieldMap::proxy(), LogSource::Proxy);
    let csv = "time,user,client_ip,method,url\n\
        2026-12-01T09:10:00Z,user01@corp.example\n\
        2026-12-01T09:11:00Z,user02@corp.example,10.0.0.2,GET,\n\
        2026-12-01T09:12:00Z,user03@corp.example,10.0.0.3,GET,https://login.micros0ft-support.example/\n";
    let log = parse_csv(csv.as_bytes(), &FieldMap::proxy(), LogSource::Proxy).expect("parse");

    assert_eq!(empty.err(), Some(LogError::Empty));
    assert_eq!(empty_lines.err(), Some(LogError::Empty));
    let reasons: Vec<(u64, &str)> = log.defects.iter().map(|d| (d.line, d.reason.as_str())).collect();
    assert_eq!(
        reasons,
        vec![
            (2, "the line has 2 fields and the header 5; check its delimiter and quotes"),
            (3, "the url and host fields are empty"),
        ]
    );
    assert_eq!(log.entries.len(), 1);
}
