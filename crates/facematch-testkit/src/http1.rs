//! The one raw HTTP/1.1 client of the tests and load tools: requests written by hand,
//! responses read with every line and body bounded (a misbehaving server cannot make
//! it grow without limit). One-shot requests ([`send`], [`send_blocking`]) and
//! keep-alive connections ([`Conn`], [`exchange`]).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest response body read (a face-match answer is a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Longest status, header or chunk-size line read.
pub const MAX_LINE_BYTES: u64 = 64 * 1024;

/// Most header lines read in one response.
pub const MAX_HEADERS: usize = 256;

/// A connection that may carry several requests (keep-alive).
pub type Conn = BufReader<TcpStream>;

/// One response as the client saw it.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Headers in the order received, names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Whether the connection cannot be reused (`Connection: close`, or a body that
    /// ended with the connection).
    pub close: bool,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in seconds, if present and numeric.
    pub fn retry_after(&self) -> Option<u64> {
        self.header("retry-after").and_then(|v| v.parse().ok())
    }

    /// The body as (lossy) UTF-8 text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The bytes of a request: request line, `Host`, `headers` in order, `Content-Length`,
/// then `body`. Header values must not hold line breaks (callers check user input).
pub fn request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    out
}

/// Opens a keep-alive connection to `addr`.
pub async fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
    Ok(BufReader::new(TcpStream::connect(addr).await?))
}

/// Reads one CRLF-terminated line (without the CRLF), at most [`MAX_LINE_BYTES`].
pub async fn read_line(conn: &mut Conn) -> std::io::Result<String> {
    // Bounded while reading, so a server that never sends a newline cannot grow it.
    let mut line = Vec::new();
    let n = (&mut *conn)
        .take(MAX_LINE_BYTES)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if n as u64 == MAX_LINE_BYTES && line.last() != Some(&b'\n') {
        return Err(std::io::Error::other("response line too long"));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Reads one response: status line, headers and body (`Content-Length`, chunked, or
/// up to the end of the connection), at most [`MAX_RESPONSE_BYTES`] of body.
pub async fn read_response(conn: &mut Conn) -> std::io::Result<Response> {
    let status_line = read_line(conn).await?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        if headers.len() == MAX_HEADERS {
            return Err(std::io::Error::other("too many response headers"));
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_owned());
        match k.as_str() {
            "content-length" => length = v.parse::<usize>().ok(),
            "transfer-encoding" => chunked = v.to_ascii_lowercase().contains("chunked"),
            "connection" => close = v.eq_ignore_ascii_case("close"),
            _ => {}
        }
        headers.push((k, v));
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let size_line = read_line(conn).await?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| std::io::Error::other(format!("bad chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, up to the empty line.
                while !read_line(conn).await?.is_empty() {}
                break;
            }
            if body.len() + size > MAX_RESPONSE_BYTES {
                return Err(std::io::Error::other("response too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            conn.read_exact(&mut body[start..]).await?;
            read_line(conn).await?;
        }
    } else if let Some(len) = length {
        if len > MAX_RESPONSE_BYTES {
            return Err(std::io::Error::other("response too large"));
        }
        body.resize(len, 0);
        conn.read_exact(&mut body).await?;
    } else {
        // No length: the body ends with the connection.
        (&mut *conn)
            .take(MAX_RESPONSE_BYTES as u64)
            .read_to_end(&mut body)
            .await?;
        close = true;
    }
    Ok(Response {
        status,
        headers,
        close,
        body,
    })
}

/// Sends `request` (from [`request`]) on `conn` and reads one response. The server
/// may answer (and close) before reading the whole body: its answer is still read
/// when the write fails, and preferred to the write error.
pub async fn exchange(conn: &mut Conn, request: &[u8]) -> std::io::Result<Response> {
    let written = conn.get_mut().write_all(request).await;
    let response = read_response(conn).await;
    match (written, response) {
        (_, Ok(r)) => Ok(r),
        (Err(e), Err(_)) | (Ok(()), Err(e)) => Err(e),
    }
}

/// One request on a new connection with `Connection: close`.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Response> {
    let mut all = vec![("Connection", "close")];
    all.extend_from_slice(headers);
    let bytes = request(method, path, &addr.to_string(), &all, body);
    let mut conn = connect(addr).await?;
    exchange(&mut conn, &bytes).await
}

/// [`send`] for callers without a runtime: runs it on a current-thread runtime and
/// gives up (`TimedOut`) after `limit`.
pub fn send_blocking(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    limit: Duration,
) -> std::io::Result<Response> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::time::timeout(limit, send(addr, method, path, headers, body))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time"))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// Serves `answer` to the first connection, after reading its request head.
    async fn one_answer(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.expect("accept");
            let mut conn = BufReader::new(stream);
            while !read_line(&mut conn).await.expect("head").is_empty() {}
            conn.get_mut().write_all(answer).await.expect("answer");
        });
        addr
    }

    #[tokio::test]
    async fn chunked_bodies_are_joined_and_headers_kept() {
        let addr = one_answer(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
        )
        .await;
        let r = send(addr, "GET", "/", &[], b"").await.expect("response");
        assert_eq!(r.status, 429);
        assert_eq!(r.retry_after(), Some(3));
        assert_eq!(r.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(r.text(), "abcde");
    }

    #[tokio::test]
    async fn a_body_without_length_ends_with_the_connection() {
        let addr = one_answer(b"HTTP/1.1 200 OK\r\n\r\nhello").await;
        let r = send(addr, "GET", "/", &[], b"").await.expect("response");
        assert!(r.close);
        assert_eq!(r.text(), "hello");
    }

    #[tokio::test]
    async fn endless_lines_are_refused() {
        static LONG: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let long = LONG.get_or_init(|| vec![b'a'; 2 * MAX_LINE_BYTES as usize]);
        let addr = one_answer(long.as_slice()).await;
        assert!(send(addr, "GET", "/", &[], b"").await.is_err());
    }

    #[test]
    fn requests_are_framed_with_their_length() {
        let r = request("POST", "/p", "h", &[("x-api-key", "k")], b"body");
        assert_eq!(
            String::from_utf8_lossy(&r),
            "POST /p HTTP/1.1\r\nHost: h\r\nx-api-key: k\r\nContent-Length: 4\r\n\r\nbody"
        );
    }
}
