//! Parsers of click evidence: proxy and DNS logs as CSV or JSON Lines with
//! configurable field names, and Microsoft Defender `UrlClickEvents` rows.
//! A malformed line is recorded as a [`LogDefect`] and skipped; it never
//! stops the parse.

use std::io::Read;
use std::net::IpAddr;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

/// Maximum number of characters of a log line kept as evidence.
const MAX_RAW_CHARS: usize = 500;

/// The kind of log an entry comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogSource {
    /// Web proxy or secure web gateway.
    Proxy,
    Dns,
    /// Microsoft Defender for Office 365 `UrlClickEvents`.
    DefenderUrlClick,
}

/// One request, lookup or click event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    pub source: LogSource,
    /// Line number in the input, 1-based (the CSV header is line 1); the
    /// row index for Defender rows.
    pub line: u64,
    pub time: DateTime<Utc>,
    /// User as the log names it: an address, `DOMAIN\user` or a login.
    pub user: Option<String>,
    pub client_ip: Option<IpAddr>,
    /// HTTP method, uppercase.
    pub method: Option<String>,
    pub url: Option<String>,
    /// Host or DNS query name, lowercase, without a trailing dot.
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub status: Option<u16>,
    /// Defender only: true when the click was allowed or clicked through
    /// a warning page.
    pub allowed: Option<bool>,
    /// The line as read, shortened to 500 characters.
    pub raw: String,
}

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogDefect {
    pub line: u64,
    pub reason: String,
}

/// The entries of one log and the lines that were skipped.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ParsedLog {
    pub entries: Vec<LogEntry>,
    pub defects: Vec<LogDefect>,
    /// Configured CSV columns that the header lacks; those fields stay
    /// empty. Only `time`, and `url` or `host`, are required.
    pub missing_columns: Vec<String>,
}

/// Errors that make a whole log unusable. A field map is changed in the
/// configuration: `[identity.clicks.field_maps.NAME]` with the field
/// names as keys, chosen per import with `field_map=NAME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("the log is empty: it has no header and no lines")]
    Empty,
    #[error(
        "the log has no column {column:?} for {field}; its columns are {available}. Name the right column in a field \
         map ({field} = \"COLUMN\" under [identity.clicks.field_maps.NAME]) and import with field_map=NAME"
    )]
    MissingColumn { field: &'static str, column: String, available: String },
    #[error("failed to read the log header: {0}")]
    Header(String),
    #[error("the Defender reply is not JSON with a results array or an array of rows: {0}")]
    DefenderJson(String),
    #[error("the field map names no time field; add time = \"COLUMN\" to it")]
    NoTimeField,
    #[error(
        "the log has {wanted}; its columns are {available}. Name the URL or host column in a field map (url = \
         \"COLUMN\" or host = \"COLUMN\" under [identity.clicks.field_maps.NAME]) and import with field_map=NAME"
    )]
    NoUrlOrHost {
        /// The columns the field map names, in words: `no url column "url"
        /// and no host column "host"`.
        wanted: String,
        available: String,
    },
}

/// Column names (CSV) or dotted field paths (JSON Lines) of each field.
/// A field set to `None` is not read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldMap {
    pub time: Option<String>,
    pub user: Option<String>,
    pub client_ip: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    pub host: Option<String>,
    pub user_agent: Option<String>,
    pub status: Option<String>,
    /// `chrono` format of the time field when it matches none of the
    /// built-in forms: RFC 3339, `YYYY-MM-DD HH:MM:SS[.f]` in UTC, Apache's
    /// `10/Oct/2026:13:55:36 +0000`, or Unix seconds.
    pub time_format: Option<String>,
}

impl Default for FieldMap {
    fn default() -> Self {
        FieldMap::proxy()
    }
}

impl FieldMap {
    /// Names common in proxy exports: `time`, `user`, `client_ip`,
    /// `method`, `url`, `host`, `user_agent`, `status`.
    pub fn proxy() -> Self {
        let some = |name: &str| Some(name.to_string());
        FieldMap {
            time: some("time"),
            user: some("user"),
            client_ip: some("client_ip"),
            method: some("method"),
            url: some("url"),
            host: some("host"),
            user_agent: some("user_agent"),
            status: some("status"),
            time_format: None,
        }
    }

    /// Names for DNS logs: `time`, `client_ip`, `user`, and the query name
    /// in `host` read from the column `query`.
    pub fn dns() -> Self {
        let some = |name: &str| Some(name.to_string());
        FieldMap {
            time: some("time"),
            user: some("user"),
            client_ip: some("client_ip"),
            method: None,
            url: None,
            host: some("query"),
            user_agent: None,
            status: None,
            time_format: None,
        }
    }

    fn named(&self) -> [(&'static str, &Option<String>); 8] {
        [
            ("time", &self.time),
            ("user", &self.user),
            ("client_ip", &self.client_ip),
            ("method", &self.method),
            ("url", &self.url),
            ("host", &self.host),
            ("user_agent", &self.user_agent),
            ("status", &self.status),
        ]
    }
}

/// The text values of one record, by field.
#[derive(Default)]
struct Values {
    time: Option<String>,
    user: Option<String>,
    client_ip: Option<String>,
    method: Option<String>,
    url: Option<String>,
    host: Option<String>,
    user_agent: Option<String>,
    status: Option<String>,
}

impl Values {
    fn set(&mut self, field: &str, value: String) {
        let value = Some(value).filter(|v| !v.trim().is_empty() && v.trim() != "-");
        match field {
            "time" => self.time = value,
            "user" => self.user = value,
            "client_ip" => self.client_ip = value,
            "method" => self.method = value,
            "url" => self.url = value,
            "host" => self.host = value,
            "user_agent" => self.user_agent = value,
            _ => self.status = value,
        }
    }
}

/// Parses a CSV log with a header row.
///
/// # Errors
///
/// Returns [`LogError`] when the header cannot be read or lacks a
/// configured column.
pub fn parse_csv(input: impl Read, fields: &FieldMap, source: LogSource) -> Result<ParsedLog, LogError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(input);
    let header = reader.headers().map_err(|e| LogError::Header(e.to_string()))?.clone();
    if header.iter().all(str::is_empty) {
        return Err(LogError::Empty);
    }
    if let [only] = header.iter().collect::<Vec<_>>()[..]
        && only.contains([';', '\t', '|'])
    {
        return Err(LogError::Header(format!(
            "the header {only:?} is one column, because the log is read as comma-separated CSV; convert it to \
             commas (its separator looks like ';', a tab or '|')"
        )));
    }
    let available = header.iter().collect::<Vec<_>>().join(", ");
    let mut log = ParsedLog::default();
    let mut columns = Vec::new();
    for (field, column) in fields.named() {
        let Some(column) = column else { continue };
        match header.iter().position(|h| h.eq_ignore_ascii_case(column)) {
            Some(index) => columns.push((field, index)),
            None if field == "time" => {
                return Err(LogError::MissingColumn { field, column: column.clone(), available });
            }
            None => log.missing_columns.push(column.clone()),
        }
    }
    if fields.time.is_none() {
        return Err(LogError::NoTimeField);
    }
    if !columns.iter().any(|(field, _)| *field == "url" || *field == "host") {
        let named = [("url", &fields.url), ("host", &fields.host)];
        let wanted: Vec<String> = named
            .iter()
            .filter_map(|(field, column)| column.as_ref().map(|column| format!("no {field} column {column:?}")))
            .collect();
        let wanted =
            if wanted.is_empty() { "no url or host column in its field map".to_string() } else { wanted.join(" and ") };
        return Err(LogError::NoUrlOrHost { wanted, available });
    }

    for (index, record) in reader.records().enumerate() {
        let line = index as u64 + 2;
        let record = match record {
            Ok(record) => record,
            Err(error) => {
                log.defects.push(LogDefect { line, reason: error.to_string() });
                continue;
            }
        };
        if record.len() < header.len() && columns.iter().any(|(_, column)| *column >= record.len()) {
            let reason = format!(
                "the line has {} fields and the header {}; check its delimiter and quotes",
                record.len(),
                header.len()
            );
            log.defects.push(LogDefect { line, reason });
            continue;
        }
        let mut values = Values::default();
        for (field, column) in &columns {
            if let Some(value) = record.get(*column) {
                values.set(field, value.to_string());
            }
        }
        let raw = record.iter().collect::<Vec<_>>().join(",");
        push(&mut log, values, fields, source, line, &raw);
    }
    Ok(log)
}

/// Parses JSON Lines; each field is found by its dotted path
/// (`http.request.method`).
///
/// # Errors
///
/// Returns [`LogError::NoTimeField`] when no time field is configured.
pub fn parse_json_lines(input: &str, fields: &FieldMap, source: LogSource) -> Result<ParsedLog, LogError> {
    if fields.time.is_none() {
        return Err(LogError::NoTimeField);
    }
    if input.trim().is_empty() {
        return Err(LogError::Empty);
    }
    let mut log = ParsedLog::default();
    for (index, text) in input.lines().enumerate() {
        let line = index as u64 + 1;
        if text.trim().is_empty() {
            continue;
        }
        let object: serde_json::Value = match serde_json::from_str(text) {
            Ok(object) => object,
            Err(error) => {
                let reason = format!("invalid JSON ({error}); each line must be one JSON object");
                log.defects.push(LogDefect { line, reason });
                continue;
            }
        };
        let mut values = Values::default();
        for (field, path) in fields.named() {
            let Some(path) = path else { continue };
            if let Some(value) = lookup(&object, path) {
                values.set(field, value);
            }
        }
        push(&mut log, values, fields, source, line, text);
    }
    Ok(log)
}

/// Parses the reply of Microsoft Graph's `runHuntingQuery` over
/// `UrlClickEvents` (an object with a `results` array), or a bare array of
/// rows. Reads `Timestamp`, `Url`, `ActionType`, `AccountUpn`, `IPAddress`
/// and `IsClickedThrough`.
///
/// # Errors
///
/// Returns [`LogError::DefenderJson`] when the text is not such JSON.
pub fn parse_url_click_events(input: &str) -> Result<ParsedLog, LogError> {
    let value: serde_json::Value = serde_json::from_str(input).map_err(|e| LogError::DefenderJson(e.to_string()))?;
    let rows = match &value {
        serde_json::Value::Array(rows) => rows,
        other => other
            .get("results")
            .and_then(|r| r.as_array())
            .ok_or_else(|| LogError::DefenderJson("no results array".to_string()))?,
    };

    let mut log = ParsedLog::default();
    for (index, row) in rows.iter().enumerate() {
        let line = index as u64 + 1;
        let text = |name: &str| row.get(name).and_then(|v| v.as_str()).map(str::to_string);
        let Some(time) = text("Timestamp").and_then(|t| parse_time(&t, None)) else {
            log.defects.push(LogDefect { line, reason: "Timestamp is missing or not RFC 3339".to_string() });
            continue;
        };
        let action = text("ActionType").unwrap_or_default();
        let clicked_through = match row.get("IsClickedThrough") {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::Number(n)) => n.as_u64().unwrap_or(0) != 0,
            Some(serde_json::Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "1" | "true"),
            _ => false,
        };
        let url = text("Url");
        log.entries.push(LogEntry {
            source: LogSource::DefenderUrlClick,
            line,
            time,
            user: text("AccountUpn"),
            client_ip: text("IPAddress").and_then(|ip| ip.parse().ok()),
            method: None,
            host: url.as_deref().and_then(host_of),
            url,
            user_agent: None,
            status: None,
            allowed: Some(action.eq_ignore_ascii_case("ClickAllowed") || clicked_through),
            raw: shorten(&row.to_string()),
        });
    }
    Ok(log)
}

fn push(log: &mut ParsedLog, values: Values, fields: &FieldMap, source: LogSource, line: u64, raw: &str) {
    let Some(time_text) = values.time else {
        log.defects.push(LogDefect { line, reason: "the time field is empty".to_string() });
        return;
    };
    let Some(time) = parse_time(&time_text, fields.time_format.as_deref()) else {
        log.defects.push(LogDefect {
            line,
            reason: format!(
                "time {time_text:?} is in no known form; give its chrono format as time_format in the field map"
            ),
        });
        return;
    };
    if values.url.as_deref().is_none_or(|url| url.trim().is_empty())
        && values.host.as_deref().is_none_or(|host| host.trim().is_empty())
    {
        log.defects.push(LogDefect { line, reason: "the url and host fields are empty".to_string() });
        return;
    }
    let client_ip = values.client_ip.as_deref().and_then(|ip| ip.trim().parse::<IpAddr>().ok());
    let host = values
        .host
        .map(|h| h.trim().trim_end_matches('.').to_lowercase())
        .or_else(|| values.url.as_deref().and_then(host_of));
    log.entries.push(LogEntry {
        source,
        line,
        time,
        user: values.user.map(|u| u.trim().to_string()),
        client_ip,
        method: values.method.map(|m| m.trim().to_uppercase()),
        url: values.url,
        host,
        user_agent: values.user_agent,
        status: values.status.and_then(|s| s.trim().parse().ok()),
        allowed: None,
        raw: shorten(raw),
    });
}

/// Returns the lowercase host of a URL. A URL without a scheme is read
/// as `http://`.
pub(crate) fn host_of(url: &str) -> Option<String> {
    let url = url.trim();
    let parsed = url::Url::parse(url).or_else(|_| url::Url::parse(&format!("http://{url}"))).ok()?;
    parsed.host_str().map(|h| h.trim_end_matches('.').to_lowercase())
}

/// Returns the lowercase host of a URL and its path segments, without
/// empty ones, percent-decoded where that gives UTF-8, so that `/a//b/`
/// and `/a/b` compare equal. A URL without a scheme is read as `http://`.
pub(crate) fn host_and_path_of(url: &str) -> Option<(String, Vec<String>)> {
    let url = url.trim();
    let parsed = url::Url::parse(url).or_else(|_| url::Url::parse(&format!("http://{url}"))).ok()?;
    let host = parsed.host_str()?.trim_end_matches('.').to_lowercase();
    let segments = parsed.path_segments().map(|segments| {
        segments
            .filter(|segment| !segment.is_empty())
            .map(|segment| match percent_encoding::percent_decode_str(segment).decode_utf8() {
                Ok(decoded) => decoded.into_owned(),
                Err(_) => segment.to_owned(),
            })
            .collect()
    });
    Some((host, segments.unwrap_or_default()))
}

fn lookup(object: &serde_json::Value, path: &str) -> Option<String> {
    let mut value = object;
    for key in path.split('.') {
        value = value.get(key)?;
    }
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn parse_time(text: &str, format: Option<&str>) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Some(format) = format {
        return DateTime::parse_from_str(text, format)
            .map(|t| t.with_timezone(&Utc))
            .ok()
            .or_else(|| NaiveDateTime::parse_from_str(text, format).ok().map(|t| t.and_utc()));
    }
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Some(time.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
        if let Ok(time) = NaiveDateTime::parse_from_str(text, format) {
            return Some(time.and_utc());
        }
    }
    if let Ok(time) =
        DateTime::parse_from_str(text.trim_start_matches('[').trim_end_matches(']'), "%d/%b/%Y:%H:%M:%S %z")
    {
        return Some(time.with_timezone(&Utc));
    }
    let seconds: f64 = text.parse().ok()?;
    DateTime::from_timestamp_millis((seconds * 1000.0) as i64)
}

fn shorten(raw: &str) -> String {
    raw.chars().take(MAX_RAW_CHARS).collect()
}
