//! The one `multipart/form-data` builder of the tests and load tools. It writes the
//! framing by hand, so that tests can also cut or corrupt a body on purpose.

use crate::faces::photo;

/// The boundary of every [`Form`] body.
pub const BOUNDARY: &str = "facematch-test-boundary-7MA4YWxkTrZu0gW";

/// One part: a field name, a file name for file parts, and the bytes.
#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    bytes: Vec<u8>,
}

/// A `multipart/form-data` body under construction, parts in the order added.
#[derive(Debug, Clone, Default)]
pub struct Form {
    parts: Vec<Part>,
}

impl Form {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }

    /// `user_image` and `ref_image` read from files under `shared/data/faces`.
    pub fn pair(user: &str, reference: &str) -> Self {
        Self::new().file("user_image", user, photo(user)).file(
            "ref_image",
            reference,
            photo(reference),
        )
    }

    /// `user_image` and `ref_image` from bytes already in memory.
    pub fn images(user: &[u8], reference: &[u8]) -> Self {
        Self::new()
            .file("user_image", "user.jpg", user.to_vec())
            .file("ref_image", "ref.jpg", reference.to_vec())
    }

    /// Adds a file part; only the last path segment of `filename` is sent.
    #[must_use]
    pub fn file(mut self, name: &str, filename: &str, bytes: Vec<u8>) -> Self {
        let filename = filename.rsplit('/').next().unwrap_or(filename).to_owned();
        self.parts.push(Part {
            name: name.into(),
            filename: Some(filename),
            bytes,
        });
        self
    }

    /// Adds a text part.
    #[must_use]
    pub fn text(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.parts.push(Part {
            name: name.into(),
            filename: None,
            bytes: value.as_ref().to_vec(),
        });
        self
    }

    /// The encoded body, closing boundary included.
    pub fn body(&self) -> Vec<u8> {
        let size: usize = self.parts.iter().map(|p| p.bytes.len() + 160).sum();
        let mut out = Vec::with_capacity(size + 64);
        for part in &self.parts {
            let name = &part.name;
            out.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
            match &part.filename {
                Some(f) => out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => out.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            out.extend_from_slice(&part.bytes);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        out
    }

    /// The `Content-Type` header value, with the boundary.
    pub fn content_type() -> String {
        format!("multipart/form-data; boundary={BOUNDARY}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_framed_in_order() {
        let body = Form::images(b"U", b"R")
            .text("save_api_request", "true")
            .body();
        let expected = format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"user_image\"; \
             filename=\"user.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\nU\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"ref_image\"; \
             filename=\"ref.jpg\"\r\nContent-Type: application/octet-stream\r\n\r\nR\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"save_api_request\"\r\n\r\n\
             true\r\n--{BOUNDARY}--\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&body), expected);
    }

    #[test]
    fn file_names_lose_their_folders() {
        let body = Form::new().file("f", "a/b/c.png", vec![]).body();
        assert!(String::from_utf8_lossy(&body).contains("filename=\"c.png\""));
    }
}
