//! Delivery of e-mail verification codes: by SMTP when configured (lettre, rustls),
//! otherwise into the server log — the one place a secret is logged, because the log
//! *is* the delivery channel of a server without mail.

use std::sync::{Arc, Mutex};

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};

/// Why a mailer could not be built or a message sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The SMTP URL or sender address is unusable.
    #[error("mail configuration: {0}")]
    Config(String),
    /// The SMTP server refused or could not be reached.
    #[error("sending mail failed: {0}")]
    Send(String),
}

/// Where verification codes go.
#[derive(Clone, Debug)]
pub enum Mailer {
    /// Written to the server log with `tracing::info!`.
    Log,
    /// Kept in memory, newest last: for tests and for embedding the server in a program
    /// that delivers codes itself.
    Memory(Outbox),
    /// Sent by SMTP.
    Smtp {
        /// The transport (pooled connections, TLS by rustls); boxed, it is large.
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
        /// The sender.
        from: Mailbox,
    },
}

impl Mailer {
    /// SMTP when `url` is given (then `from` is required), the log otherwise.
    pub fn from_settings(
        url: Option<&SecretString>,
        from: Option<&str>,
    ) -> Result<Self, MailError> {
        let Some(url) = url else {
            return Ok(Mailer::Log);
        };
        // The URL error could echo the URL (with its password): keep only the kind.
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|_| MailError::Config("FACEMATCH_SMTP_URL is not a valid SMTP URL".into()))?
            .build();
        let transport = Box::new(transport);
        let from = from
            .ok_or_else(|| MailError::Config("FACEMATCH_SMTP_FROM is required with SMTP".into()))?
            .parse::<Mailbox>()
            .map_err(|e| MailError::Config(format!("FACEMATCH_SMTP_FROM: {e}")))?;
        Ok(Mailer::Smtp { transport, from })
    }

    /// Delivers `code` to `email`.
    pub async fn send_code(&self, email: &str, code: &str) -> Result<(), MailError> {
        match self {
            Mailer::Log => {
                tracing::info!(%email, %code, "e-mail verification code (no SMTP configured)");
                Ok(())
            }
            Mailer::Memory(outbox) => {
                outbox.push(email, code);
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let body = format!(
                    "Your facematch verification code is {code}\n\n\
                     It expires in 15 minutes. If you did not sign up, ignore this e-mail.\n"
                );
                smtp_send(
                    transport,
                    from,
                    email,
                    "Your facematch verification code",
                    body,
                )
                .await
            }
        }
    }

    /// Delivers a console link (`path` with its one-time token: an invitation or a password
    /// reset) to `email`. Without SMTP it goes to the log, like verification codes.
    pub async fn send_console_link(
        &self,
        email: &str,
        subject: &str,
        path: &str,
    ) -> Result<(), MailError> {
        match self {
            Mailer::Log => {
                tracing::info!(%email, link = %path, "{subject} (no SMTP configured)");
                Ok(())
            }
            Mailer::Memory(outbox) => {
                outbox.push(email, path);
                Ok(())
            }
            Mailer::Smtp { transport, from } => {
                let body = format!(
                    "{subject}: open this address of your facematch server in a browser\n\n\
                         {path}\n\n(after the server's own address, e.g. \
                         https://facematch.example.com{path}).\n\
                         The link works once. If you did not expect it, ignore this e-mail.\n"
                );
                smtp_send(transport, from, email, subject, body).await
            }
        }
    }
}

/// One plain-text message by SMTP.
async fn smtp_send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    from: &Mailbox,
    email: &str,
    subject: &str,
    body: String,
) -> Result<(), MailError> {
    let to = email
        .parse::<Mailbox>()
        .map_err(|e| MailError::Send(format!("recipient: {e}")))?;
    let message = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .body(body)
        .map_err(|e| MailError::Send(e.to_string()))?;
    transport
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| MailError::Send(e.to_string()))
}

/// Codes and links "sent" by [`Mailer::Memory`]: `(email, code or link)` pairs.
#[derive(Clone, Default)]
pub struct Outbox(Arc<Mutex<Vec<(String, String)>>>);

impl Outbox {
    fn push(&self, email: &str, code: &str) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((email.to_owned(), code.to_owned()));
    }

    /// The last code (or console link) sent to `email`.
    pub fn last_code_for(&self, email: &str) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .rev()
            .find(|(to, _)| to == email)
            .map(|(_, code)| code.clone())
    }
}

// Redacted: the codes are secrets.
impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outbox([REDACTED])")
    }
}
