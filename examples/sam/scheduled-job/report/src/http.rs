//! A minimal HTTP/1.1 client for the Lambda Runtime API.
//!
//! Just enough HTTP for a loopback Runtime API: one keep-alive connection,
//! requests written in a single `write` with `TCP_NODELAY` (a split write costs
//! ~40 ms of Nagle + delayed ACK), bodies framed by `Content-Length`, chunked
//! bodies decoded defensively, and read-to-EOF when the server closes.

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;

/// One HTTP answer: status code, headers (names lower-cased) and body.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a request failed: the socket, or an answer that is not HTTP.
#[derive(Debug)]
pub enum Error {
    Io(io::Error),
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(m) => write!(f, "bad HTTP answer: {m}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// A client bound to one `host:port`, reusing its connection between requests.
pub struct Client {
    authority: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    pub fn new(authority: &str) -> Self {
        Client {
            authority: authority.to_string(),
            conn: None,
        }
    }

    /// Send one request and read its answer.
    ///
    /// A reused keep-alive connection may have been closed by the server while
    /// idle; in that case (nothing of the answer read yet) the request is sent
    /// once more on a fresh connection.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, Error> {
        let reused = self.conn.is_some();
        match self.try_request(method, path, headers, body) {
            Err(Error::Io(e)) if reused && is_stale_connection(&e) => {
                self.conn = None;
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
    ) -> Result<Response, Error> {
        if self.conn.is_none() {
            let stream = TcpStream::connect(&self.authority)?;
            stream.set_nodelay(true)?;
            self.conn = Some(BufReader::new(stream));
        }
        let conn = self.conn.as_mut().expect("connection was just opened");

        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.authority);
        for (name, value) in headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        if method != "GET" || !body.is_empty() {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(body);

        let result = conn
            .get_mut()
            .write_all(&wire)
            .map_err(Error::from)
            .and_then(|()| read_response(conn));
        match result {
            Ok((response, keep_alive)) => {
                if !keep_alive {
                    self.conn = None;
                }
                Ok(response)
            }
            Err(e) => {
                self.conn = None;
                Err(e)
            }
        }
    }
}

fn is_stale_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

/// Read one answer; also says whether the connection may be reused.
fn read_response<R: BufRead>(conn: &mut R) -> Result<(Response, bool), Error> {
    let status_line = read_line(conn)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::Protocol(format!("status line {status_line:?}")))?;
    if !version.starts_with("HTTP/1.") {
        return Err(Error::Protocol(format!("status line {status_line:?}")));
    }

    let mut headers = Vec::new();
    loop {
        let line = read_line(conn)?;
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| Error::Protocol(format!("header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };

    let connection = response
        .header("connection")
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };

    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        response.body = read_chunked(conn)?;
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| Error::Protocol(format!("Content-Length {length:?}")))?;
        let mut body = vec![0; length];
        conn.read_exact(&mut body)?;
        response.body = body;
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body by definition.
    } else {
        // No framing: the body runs to the end of the connection.
        conn.read_to_end(&mut response.body)?;
        keep_alive = false;
    }
    Ok((response, keep_alive))
}

fn read_chunked<R: BufRead>(conn: &mut R) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let line = read_line(conn)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| Error::Protocol(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while !read_line(conn)?.is_empty() {}
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        conn.read_exact(&mut body[start..])?;
        if !read_line(conn)?.is_empty() {
            return Err(Error::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

/// One line without its CRLF; EOF before any byte is an `UnexpectedEof` error.
fn read_line<R: BufRead>(conn: &mut R) -> Result<String, Error> {
    let mut raw = Vec::new();
    let n = conn.read_until(b'\n', &mut raw)?;
    if n == 0 {
        return Err(Error::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        )));
    }
    while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        raw.pop();
    }
    String::from_utf8(raw).map_err(|_| Error::Protocol("header is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: b\r\n\r\n{}rest";
        let mut r = &raw[..];
        let (resp, keep) = read_response(&mut r).unwrap();
        assert_eq!(resp.status, 200);
        assert_eq!(resp.body, b"{}");
        assert_eq!(resp.header("x-a"), Some("b"));
        assert!(keep);
    }

    #[test]
    fn reads_chunked_body_with_trailer() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n";
        let mut r = &raw[..];
        let (resp, _) = read_response(&mut r).unwrap();
        assert_eq!(resp.body, b"abcde");
    }

    #[test]
    fn unframed_body_reads_to_eof_and_closes() {
        let raw = b"HTTP/1.0 202 Accepted\r\n\r\nok";
        let mut r = &raw[..];
        let (resp, keep) = read_response(&mut r).unwrap();
        assert_eq!(resp.status, 202);
        assert_eq!(resp.body, b"ok");
        assert!(!keep);
    }
}
