//! Lamina's hello example as a custom runtime (`provided.al2023`).
//!
//! The binary is the whole runtime: it pulls events from the Lambda Runtime API
//! (`$AWS_LAMBDA_RUNTIME_API`), calls `handle`, and posts the answer or the
//! error. Behaviour matches the Python and Node.js hello examples:
//!
//! * `{"name": "X"}` → `{"message": "Hello, X!", "runtime": "rust", "requestId": ...,
//!   "coldStart": <first invoke of this environment>, "invocations": <count>}`
//! * `{"fail": true}` → error `{"errorType": "HelloError", "errorMessage": "asked to fail"}`
//! * `HELLO_FAIL_INIT=1` in the environment → the init error path (`/init/error`).

mod http;

use std::env;
use std::process::exit;

use serde_json::{json, Value};

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";

/// What the Runtime API tells us about one invocation.
struct Context {
    request_id: String,
}

/// A failure reported to the Runtime API as `{"errorType", "errorMessage"}`.
struct FunctionError {
    error_type: String,
    message: String,
}

impl FunctionError {
    fn new(error_type: &str, message: impl Into<String>) -> Self {
        FunctionError {
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }

    fn to_json(&self) -> Vec<u8> {
        json!({"errorType": self.error_type, "errorMessage": self.message})
            .to_string()
            .into_bytes()
    }
}

/// State that lives as long as the execution environment (warm invokes share it).
struct Environment {
    invocations: u64,
}

/// INIT: runs once per execution environment, before the first event.
fn init() -> Result<Environment, FunctionError> {
    if env::var_os("HELLO_FAIL_INIT").is_some_and(|v| !v.is_empty()) {
        return Err(FunctionError::new("HelloError", "asked to fail at init"));
    }
    Ok(Environment { invocations: 0 })
}

/// The function itself.
fn handle(
    event: &Value,
    ctx: &Context,
    environment: &mut Environment,
) -> Result<Value, FunctionError> {
    environment.invocations += 1;
    if event.get("fail") == Some(&Value::Bool(true)) {
        return Err(FunctionError::new("HelloError", "asked to fail"));
    }
    let name = event.get("name").and_then(Value::as_str).unwrap_or("World");
    Ok(json!({
        "message": format!("Hello, {name}!"),
        "runtime": "rust",
        "requestId": ctx.request_id,
        "coldStart": environment.invocations == 1,
        "invocations": environment.invocations,
    }))
}

fn main() {
    let api = match env::var("AWS_LAMBDA_RUNTIME_API") {
        Ok(api) if !api.is_empty() => api,
        _ => {
            eprintln!("bootstrap: AWS_LAMBDA_RUNTIME_API is not set");
            exit(1);
        }
    };
    let mut client = http::Client::new(&api);

    let mut environment = match init() {
        Ok(environment) => environment,
        Err(error) => {
            eprintln!(
                "bootstrap: init failed: {}: {}",
                error.error_type, error.message
            );
            let path = format!("{RUNTIME_PREFIX}/init/error");
            let headers = [
                ("Content-Type", "application/json"),
                (
                    "Lambda-Runtime-Function-Error-Type",
                    error.error_type.as_str(),
                ),
            ];
            if let Err(e) = client.request("POST", &path, &headers, &error.to_json()) {
                eprintln!("bootstrap: could not report the init error: {e}");
            }
            exit(1);
        }
    };

    let next_path = format!("{RUNTIME_PREFIX}/invocation/next");
    loop {
        let next = match client.request("GET", &next_path, &[], &[]) {
            Ok(response) => response,
            Err(e) => fatal(&format!("GET /next failed: {e}")),
        };
        if next.status != 200 {
            // 500 means the environment is broken; the runtime must exit.
            fatal(&format!("GET /next answered {}", next.status));
        }
        let request_id = match next.header("lambda-runtime-aws-request-id") {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => fatal("GET /next answered without Lambda-Runtime-Aws-Request-Id"),
        };
        match next.header("lambda-runtime-trace-id") {
            // Tracing SDKs read the current trace from this variable.
            Some(trace) => env::set_var("_X_AMZN_TRACE_ID", trace),
            None => env::remove_var("_X_AMZN_TRACE_ID"),
        }
        let ctx = Context { request_id };

        let outcome = match serde_json::from_slice::<Value>(&next.body) {
            Ok(event) => handle(&event, &ctx, &mut environment),
            Err(e) => Err(FunctionError::new(
                "Runtime.UnmarshalError",
                format!("could not parse the event as JSON: {e}"),
            )),
        };
        let (path, body) = match outcome {
            Ok(value) => (
                format!("{RUNTIME_PREFIX}/invocation/{}/response", ctx.request_id),
                value.to_string().into_bytes(),
            ),
            Err(error) => (
                format!("{RUNTIME_PREFIX}/invocation/{}/error", ctx.request_id),
                error.to_json(),
            ),
        };
        let headers = [("Content-Type", "application/json")];
        match client.request("POST", &path, &headers, &body) {
            Ok(answer) if answer.status == 202 => {}
            // 413 (too large) or 403 (already answered): the platform fails the
            // invoke itself; this environment can keep serving.
            Ok(answer) => eprintln!(
                "bootstrap: POST {path} answered {}: {}",
                answer.status,
                String::from_utf8_lossy(&answer.body)
            ),
            Err(e) => fatal(&format!("POST {path} failed: {e}")),
        }
    }
}

fn fatal(message: &str) -> ! {
    eprintln!("bootstrap: {message}");
    exit(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            request_id: "req-1".into(),
        }
    }

    #[test]
    fn greets_by_name_and_counts_invocations() {
        let mut environment = Environment { invocations: 0 };
        let first = handle(&json!({"name": "Ada"}), &ctx(), &mut environment)
            .ok()
            .unwrap();
        assert_eq!(first["message"], "Hello, Ada!");
        assert_eq!(first["coldStart"], true);
        let second = handle(&json!({}), &ctx(), &mut environment).ok().unwrap();
        assert_eq!(second["message"], "Hello, World!");
        assert_eq!(second["coldStart"], false);
        assert_eq!(second["invocations"], 2);
        assert_eq!(second["requestId"], "req-1");
    }

    #[test]
    fn fail_switch_returns_hello_error() {
        let mut environment = Environment { invocations: 0 };
        let error = handle(&json!({"fail": true}), &ctx(), &mut environment)
            .err()
            .unwrap();
        assert_eq!(error.error_type, "HelloError");
        assert_eq!(error.message, "asked to fail");
    }
}
