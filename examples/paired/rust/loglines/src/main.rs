//! Access-log analyser: the Rust twin of `../../loglines/python/app.py`.
//!
//! The same pattern (anchored here with `^...$`, matched whole there with `fullmatch`),
//! the same integer milliseconds, the same rankings with ties broken by name.
//!
//! The pattern runs on bytes with Unicode off (`(?-u)`): every class in it is ASCII or
//! "anything but an ASCII delimiter", so on UTF-8 text it matches exactly what Python's
//! `re` matches on the decoded string, every capture starts and ends at an ASCII
//! delimiter (and so is valid UTF-8), and the engine needs no Unicode tables.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use flate2::read::MultiGzDecoder;
use lambda_loop::{run, Context, FunctionError};
use regex::bytes::Regex;
use serde_json::{json, Value};

const PATTERN: &str = concat!(
    r#"(?-u)^(?:([^ ]+) [^ ]+ [^ ]+ \[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}):[0-9]{2} [^\]]*\] "#,
    r#""([A-Z]+) ([^ "]+) [^ "]+" ([0-9]{3}) ([0-9]{1,15}|-) "[^"]*" "[^"]*""#,
    r#"(?: ([0-9]{1,6})\.([0-9]{1,6}))?)$"#,
);
const TOP: usize = 10;

fn not_an_event() -> FunctionError {
    FunctionError::new("LogError", "not a CloudWatch Logs subscription event")
}

/// `0.042` → 42: whole milliseconds, the fraction's digits beyond three dropped.
fn millis(seconds: &str, fraction: &str) -> u64 {
    let padded = format!("{fraction}00");
    seconds.parse::<u64>().expect("1-6 digits") * 1000
        + padded[..3].parse::<u64>().expect("3 digits")
}

fn nearest_rank(ordered: &[u64], percent: usize) -> u64 {
    let rank = (percent * ordered.len()).div_ceil(100).max(1);
    ordered[rank - 1]
}

/// The `limit` largest counts, ties by key: `[[key, count], ...]`.
fn ranking<'a>(counts: &HashMap<&'a str, u64>, limit: usize) -> Vec<(&'a str, u64)> {
    let mut pairs: Vec<(&str, u64)> = counts.iter().map(|(k, n)| (*k, *n)).collect();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    pairs.truncate(limit);
    pairs
}

fn messages(event: &[u8]) -> Result<Vec<Value>, FunctionError> {
    let event: Value = serde_json::from_slice(event).map_err(|_| not_an_event())?;
    let data = event
        .get("awslogs")
        .and_then(|a| a.get("data"))
        .and_then(Value::as_str)
        .ok_or_else(not_an_event)?;
    let compressed = base64::decode(data).map_err(|_| not_an_event())?;
    let mut raw = String::new();
    MultiGzDecoder::new(&compressed[..])
        .read_to_string(&mut raw)
        .map_err(|_| not_an_event())?;
    let mut document: Value = serde_json::from_str(&raw).map_err(|_| not_an_event())?;
    match document.get_mut("logEvents").map(Value::take) {
        Some(Value::Array(events)) => events
            .into_iter()
            .map(|mut e| match e.get_mut("message") {
                Some(message) => Ok(message.take()),
                None => Err(not_an_event()),
            })
            .collect(),
        _ => Err(not_an_event()),
    }
}

fn handle(line_pattern: &Regex, event: &[u8]) -> Result<Vec<u8>, FunctionError> {
    let lines = messages(event)?;
    // Keys borrow from the lines (alive until the answer is built): no allocation per line.
    let mut status_classes = [0u64; 10];
    let mut methods: HashMap<&str, u64> = HashMap::new();
    let mut minutes: HashMap<&str, u64> = HashMap::new();
    let mut clients: HashMap<&str, u64> = HashMap::new();
    let mut paths: HashMap<&str, [u64; 3]> = HashMap::new(); // requests, 5xx, bytes
    let mut times = Vec::new();
    let mut total_bytes = 0u64;
    let mut unparsed = 0u64;
    let mut locations = line_pattern.capture_locations();
    for line in &lines {
        let Some(text) = line.as_str() else {
            unparsed += 1;
            continue;
        };
        if line_pattern
            .captures_read(&mut locations, text.as_bytes())
            .is_none()
        {
            unparsed += 1;
            continue;
        }
        // Captures end at ASCII delimiters of a UTF-8 string: slicing the str there is safe.
        let group = |i: usize| locations.get(i).map(|(start, end)| &text[start..end]);
        let (client, minute, method) = (group(1).unwrap(), group(2).unwrap(), group(3).unwrap());
        let (target, status, size) = (group(4).unwrap(), group(5).unwrap(), group(6).unwrap());
        status_classes[usize::from(status.as_bytes()[0] - b'0')] += 1;
        *methods.entry(method).or_insert(0) += 1;
        *minutes.entry(minute).or_insert(0) += 1;
        *clients.entry(client).or_insert(0) += 1;
        let sent = if size == "-" {
            0
        } else {
            size.parse::<u64>().expect("1-15 digits")
        };
        total_bytes += sent;
        let path = target.split('?').next().unwrap_or(target);
        let entry = paths.entry(path).or_insert([0, 0, 0]);
        entry[0] += 1;
        entry[1] += u64::from(status.starts_with('5'));
        entry[2] += sent;
        if let (Some(secs), Some(frac)) = (group(7), group(8)) {
            times.push(millis(secs, frac));
        }
    }
    let statuses: BTreeMap<String, u64> = status_classes
        .iter()
        .enumerate()
        .filter(|(_, n)| **n > 0)
        .map(|(digit, n)| (format!("{digit}xx"), *n))
        .collect();
    times.sort_unstable();
    let mut top_paths: Vec<(&&str, &[u64; 3])> = paths.iter().collect();
    top_paths.sort_by(|a, b| b.1[0].cmp(&a.1[0]).then_with(|| a.0.cmp(b.0)));
    top_paths.truncate(TOP);
    let busiest = ranking(&minutes, 1);
    let latency = if times.is_empty() {
        Value::Null
    } else {
        json!({
            "count": times.len(),
            "p50": nearest_rank(&times, 50),
            "p95": nearest_rank(&times, 95),
            "p99": nearest_rank(&times, 99),
            "max": times[times.len() - 1],
        })
    };
    let answer = json!({
        "lines": lines.len(),
        "parsed": lines.len() as u64 - unparsed,
        "unparsed": unparsed,
        "bytes": total_bytes,
        "statusClasses": statuses,
        "methods": methods.into_iter().collect::<BTreeMap<_, _>>(),
        "latencyMs": latency,
        "busiestMinute": busiest
            .first()
            .map(|(minute, n)| json!({"minute": minute, "requests": n})),
        "topPaths": top_paths
            .iter()
            .map(|(p, [n, e, b])| json!({"path": p, "requests": n, "serverErrors": e, "bytes": b}))
            .collect::<Vec<_>>(),
        "topClients": ranking(&clients, 5)
            .into_iter()
            .map(|(k, n)| json!([k, n]))
            .collect::<Vec<_>>(),
    });
    Ok(answer.to_string().into_bytes())
}

fn main() {
    run(
        || Regex::new(PATTERN).map_err(|e| FunctionError::new("LogError", e.to_string())),
        |pattern: &mut Regex, event: &[u8], _: &Context| handle(pattern, event),
    )
}
