//! A scheduled job as a custom runtime (`provided.al2023`).
//!
//! Each schedule passes its own `Input` (`{"job": "heartbeat"}`, `{"job":
//! "nightly-report"}`); a schedule without one passes EventBridge's scheduled event,
//! whose `time` the job reports. The answer says which job ran and how often this
//! environment has run it.

mod http;

use std::collections::BTreeMap;
use std::env;
use std::process::exit;

use serde_json::{json, Value};

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";

/// The job itself: which job, when, and a per-environment run count.
fn run_job(event: &Value, runs: &mut BTreeMap<String, u64>) -> Value {
    let job = event
        .get("job")
        .and_then(Value::as_str)
        .or_else(|| event.get("detail-type").and_then(Value::as_str))
        .unwrap_or("unnamed")
        .to_string();
    let count = runs.entry(job.clone()).or_insert(0);
    *count += 1;
    json!({
        "job": job,
        "report": env::var("REPORT_NAME").unwrap_or_else(|_| "default".into()),
        "scheduledAt": event.get("time").cloned().unwrap_or(Value::Null),
        "runs": *count,
        "version": 1,
    })
}

fn main() {
    let api = env::var("AWS_LAMBDA_RUNTIME_API").unwrap_or_else(|_| {
        eprintln!("bootstrap: AWS_LAMBDA_RUNTIME_API is not set");
        exit(1)
    });
    let mut client = http::Client::new(&api);
    let mut runs = BTreeMap::new();
    let next_path = format!("{RUNTIME_PREFIX}/invocation/next");
    loop {
        let next = match client.request("GET", &next_path, &[], &[]) {
            Ok(r) if r.status == 200 => r,
            Ok(r) => fatal(&format!("GET /next answered {}", r.status)),
            Err(e) => fatal(&format!("GET /next failed: {e}")),
        };
        let request_id = match next.header("lambda-runtime-aws-request-id") {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => fatal("GET /next answered without a request id"),
        };
        let (path, body) = match serde_json::from_slice::<Value>(&next.body) {
            Ok(event) => {
                let answer = run_job(&event, &mut runs);
                eprintln!("job {} done", answer["job"]);
                (
                    format!("{RUNTIME_PREFIX}/invocation/{request_id}/response"),
                    answer.to_string().into_bytes(),
                )
            }
            Err(e) => (
                format!("{RUNTIME_PREFIX}/invocation/{request_id}/error"),
                json!({"errorType": "Runtime.UnmarshalError", "errorMessage": e.to_string()})
                    .to_string()
                    .into_bytes(),
            ),
        };
        let headers = [("Content-Type", "application/json")];
        if let Err(e) = client.request("POST", &path, &headers, &body) {
            fatal(&format!("POST {path} failed: {e}"));
        }
    }
}

fn fatal(message: &str) -> ! {
    eprintln!("bootstrap: {message}");
    exit(1);
}
