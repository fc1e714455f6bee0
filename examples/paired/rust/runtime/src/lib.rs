//! The Lambda Runtime API loop shared by the paired examples.
//!
//! A custom runtime (`provided.al2023`) is a `bootstrap` binary that pulls events from
//! `http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/invocation/next`, runs the handler
//! and posts the answer (or an error) back. Debian packages no `lambda_runtime` crate, so
//! this is written out: a keep-alive HTTP/1.1 client over one `TcpStream` (requests in a
//! single write with `TCP_NODELAY`; bodies by `Content-Length` or chunked) and the loop.
//!
//! A handler takes the raw event bytes and answers with JSON bytes, or a
//! [`FunctionError`] which becomes `{"errorType", "errorMessage"}`.

use std::env;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::exit;

const PREFIX: &str = "/2018-06-01/runtime";

/// An error of the function, reported as Lambda reports one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionError {
    pub error_type: String,
    pub message: String,
}

impl FunctionError {
    pub fn new(error_type: &str, message: impl Into<String>) -> Self {
        FunctionError {
            error_type: error_type.to_string(),
            message: message.into(),
        }
    }

    fn to_json(&self) -> Vec<u8> {
        serde_json::json!({"errorType": self.error_type, "errorMessage": self.message})
            .to_string()
            .into_bytes()
    }
}

/// What the Runtime API says about the invocation being handled.
pub struct Context {
    pub request_id: String,
    pub deadline_ms: u64,
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One keep-alive connection to the Runtime API, reopened when the server closes it.
struct Connection {
    authority: String,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        // A connection the server closed while we were idle fails on first use: retry
        // once on a fresh one (nothing of the answer has been read then).
        let reused = self.stream.is_some();
        match self.try_request(method, path, headers, body) {
            Err(e) if reused && is_closed(&e) => {
                self.stream = None;
                self.try_request(method, path, headers, body)
            }
            other => other,
        }
    }

    fn try_request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.authority)?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        let reader = self.stream.as_mut().expect("connected above");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\n",
            self.authority,
            body.len()
        );
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(body);
        reader.get_mut().write_all(&bytes)?;
        let answer = read_answer(reader);
        match &answer {
            Ok(a)
                if a.header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("close")) =>
            {
                self.stream = None
            }
            Err(_) => self.stream = None,
            _ => {}
        }
        answer
    }
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

fn read_line(reader: &mut BufReader<TcpStream>) -> io::Result<String> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn read_answer(reader: &mut BufReader<TcpStream>) -> io::Result<Answer> {
    let status_line = read_line(reader)?;
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad(format!("not an HTTP status line: {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("not a header: {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut answer = Answer {
        status,
        headers,
        body: Vec::new(),
    };
    if let Some(length) = answer.header("content-length") {
        let length: usize = length.parse().map_err(|_| bad("bad Content-Length"))?;
        answer.body.resize(length, 0);
        reader.read_exact(&mut answer.body)?;
    } else if answer
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        loop {
            let size_line = read_line(reader)?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                while !read_line(reader)?.is_empty() {}
                break;
            }
            let start = answer.body.len();
            answer.body.resize(start + size, 0);
            reader.read_exact(&mut answer.body[start..])?;
            read_line(reader)?;
        }
    } else if status >= 200 && status != 204 && status != 304 {
        reader.read_to_end(&mut answer.body)?;
    }
    Ok(answer)
}

fn fatal(message: &str) -> ! {
    eprintln!("bootstrap: {message}");
    exit(1);
}

/// Run the Runtime API loop forever: `init` once (its error is an init error), then
/// `handler` for every event.
pub fn run<S, I, H>(init: I, mut handler: H) -> !
where
    I: FnOnce() -> Result<S, FunctionError>,
    H: FnMut(&mut S, &[u8], &Context) -> Result<Vec<u8>, FunctionError>,
{
    let authority = match env::var("AWS_LAMBDA_RUNTIME_API") {
        Ok(a) if !a.is_empty() => a,
        _ => fatal("AWS_LAMBDA_RUNTIME_API is not set"),
    };
    let mut conn = Connection {
        authority,
        stream: None,
    };
    let json = [("Content-Type", "application/json")];
    let mut state = match init() {
        Ok(state) => state,
        Err(error) => {
            let path = format!("{PREFIX}/init/error");
            let headers = [
                ("Content-Type", "application/json"),
                (
                    "Lambda-Runtime-Function-Error-Type",
                    error.error_type.as_str(),
                ),
            ];
            if let Err(e) = conn.request("POST", &path, &headers, &error.to_json()) {
                eprintln!("bootstrap: could not report the init error: {e}");
            }
            fatal(&format!(
                "init failed: {}: {}",
                error.error_type, error.message
            ));
        }
    };
    let next = format!("{PREFIX}/invocation/next");
    loop {
        let event = match conn.request("GET", &next, &[], &[]) {
            Ok(answer) if answer.status == 200 => answer,
            Ok(answer) => fatal(&format!("GET {next} answered {}", answer.status)),
            Err(e) => fatal(&format!("GET {next} failed: {e}")),
        };
        let context = Context {
            request_id: event
                .header("lambda-runtime-aws-request-id")
                .unwrap_or_default()
                .to_string(),
            deadline_ms: event
                .header("lambda-runtime-deadline-ms")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
        };
        let (path, body) = match handler(&mut state, &event.body, &context) {
            Ok(body) => (
                format!("{PREFIX}/invocation/{}/response", context.request_id),
                body,
            ),
            Err(error) => (
                format!("{PREFIX}/invocation/{}/error", context.request_id),
                error.to_json(),
            ),
        };
        match conn.request("POST", &path, &json, &body) {
            Ok(answer) if answer.status == 202 => {}
            // 413 (answer too large) or 403 (already answered): the platform fails this
            // invoke itself; the environment can keep serving.
            Ok(answer) => eprintln!("bootstrap: POST {path} answered {}", answer.status),
            Err(e) => fatal(&format!("POST {path} failed: {e}")),
        }
    }
}
