//! A custom runtime (`provided.al2023`) that streams its response.
//!
//! For each event it posts `/response` with
//! `Lambda-Runtime-Function-Response-Mode: streaming` and a chunked body written
//! over time: `{"chunks": N, "gapMs": M}` (default 5 pieces, 100 ms apart). Each
//! piece is `<n>@<epoch seconds when written>;`, so a client can tell each piece
//! reached it before the next one was written. `{"fail": true}` ends the stream
//! with the error trailers (`Lambda-Runtime-Function-Error-Type/-Body`).
//!
//! Standard library only: a minimal HTTP/1.1 client over `TcpStream`.

use std::env;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const RUNTIME_PREFIX: &str = "/2018-06-01/runtime";

/// One event: its request id and body.
struct Event {
    request_id: String,
    body: String,
}

fn connect(api: &str) -> TcpStream {
    let stream = TcpStream::connect(api).expect("connect to the Runtime API");
    stream.set_nodelay(true).expect("TCP_NODELAY");
    stream
}

/// GET /invocation/next (blocks until an event comes).
fn next_event(api: &str) -> Event {
    let mut stream = connect(api);
    write!(
        stream,
        "GET {RUNTIME_PREFIX}/invocation/next HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\n\r\n"
    )
    .expect("send next");
    let mut reader = BufReader::new(stream);
    let mut request_id = String::new();
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).expect("read header") == 0 {
            break;
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "lambda-runtime-aws-request-id" => request_id = value.trim().to_string(),
                "content-length" => length = value.trim().parse().unwrap_or(0),
                _ => {}
            }
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).expect("read event");
    Event {
        request_id,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// A number field of a flat JSON object, without a JSON parser (std only).
fn number_field(body: &str, name: &str) -> Option<u64> {
    let start = body.find(&format!("\"{name}\""))? + name.len() + 2;
    let rest = body[start..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn base64(data: &[u8]) -> String {
    const TABLE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for group in data.chunks(3) {
        let b = [group[0], *group.get(1).unwrap_or(&0), *group.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= group.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// POST /response in streaming mode, one chunk per piece, flushed as written.
fn stream_response(api: &str, event: &Event) {
    let pieces = number_field(&event.body, "chunks").unwrap_or(5);
    let gap = Duration::from_millis(number_field(&event.body, "gapMs").unwrap_or(100));
    let fail = event.body.replace(char::is_whitespace, "").contains("\"fail\":true");
    let mut stream = connect(api);
    write!(
        stream,
        "POST {RUNTIME_PREFIX}/invocation/{}/response HTTP/1.1\r\nHost: {api}\r\n\
         Lambda-Runtime-Function-Response-Mode: streaming\r\n\
         Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\
         Trailer: Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body\r\n\
         Connection: close\r\n\r\n",
        event.request_id
    )
    .expect("send response head");
    for n in 1..=pieces {
        if n > 1 {
            sleep(gap);
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let piece = format!("{n}@{}.{:06};", now.as_secs(), now.subsec_micros());
        write!(stream, "{:x}\r\n{piece}\r\n", piece.len()).expect("send chunk");
        stream.flush().expect("flush chunk");
    }
    if fail {
        let body = base64(br#"{"errorMessage":"asked to fail mid-stream","errorType":"StreamError"}"#);
        write!(
            stream,
            "0\r\nLambda-Runtime-Function-Error-Type: StreamError\r\n\
             Lambda-Runtime-Function-Error-Body: {body}\r\n\r\n"
        )
        .expect("send error trailers");
    } else {
        stream.write_all(b"0\r\n\r\n").expect("end stream");
    }
    // Read the Runtime API's answer (202) so the post is complete before the next event.
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
}

fn main() {
    let api = env::var("AWS_LAMBDA_RUNTIME_API").expect("AWS_LAMBDA_RUNTIME_API is set");
    loop {
        let event = next_event(&api);
        eprintln!("streaming a response for {}", event.request_id);
        stream_response(&api, &event);
    }
}
