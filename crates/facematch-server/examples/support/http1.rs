//! The raw HTTP/1.1 pieces that the loopback load tools (`load`, `faults`) share: the
//! face-match multipart body and a bounded keep-alive response reader. Included by each
//! example with `#[path = "support/http1.rs"] mod http1;`.

#![allow(dead_code)] // each example uses a different subset

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::net::TcpStream;

/// Multipart boundary of the request body.
pub const BOUNDARY: &str = "facematch-load-boundary-5Jq2Rk8vXw";

/// Largest response body read (a face-match answer is a few KiB).
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// The multipart body with both photos (and `save_api_request` if given).
pub fn multipart_body(user: &[u8], reference: &[u8], save: Option<bool>) -> Vec<u8> {
    let mut out = Vec::with_capacity(user.len() + reference.len() + 1024);
    for (name, file, bytes) in [
        ("user_image", "user.jpg", user),
        ("ref_image", "ref.jpg", reference),
    ] {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; \
                 filename=\"{file}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(save) = save {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; \
                 name=\"save_api_request\"\r\n\r\n{save}\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

/// One response as the client saw it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub close: bool,
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// A keep-alive connection.
pub type Conn = BufReader<TcpStream>;

/// Reads one CRLF-terminated line (without the CRLF).
pub async fn read_line(conn: &mut Conn) -> std::io::Result<String> {
    // Bounded while reading, so a server that never sends a newline cannot grow it.
    const MAX_LINE: u64 = 64 * 1024;
    let mut line = Vec::new();
    let n = (&mut *conn)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    if n as u64 == MAX_LINE && line.last() != Some(&b'\n') {
        return Err(std::io::Error::other("response line too long"));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Reads the status line, headers and body (Content-Length or chunked).
pub async fn read_response(conn: &mut Conn) -> std::io::Result<Response> {
    let status_line = read_line(conn).await?;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {status_line:?}")))?;
    let (mut length, mut chunked, mut close, mut retry_after) = (None, false, false, None);
    loop {
        let line = read_line(conn).await?;
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.to_ascii_lowercase().contains("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        } else if k.eq_ignore_ascii_case("retry-after") {
            retry_after = v.parse().ok();
        }
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
        close,
        retry_after,
        body,
    })
}
