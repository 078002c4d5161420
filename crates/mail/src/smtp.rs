//! Outbox delivery over SMTP with lettre.
//!
//! Every message carries the headers that keep mail loops from forming:
//! `Auto-Submitted: auto-replied` (RFC 3834) instructs responders not to reply,
//! `X-Auto-Response-Suppress: All` does the same for Microsoft Exchange,
//! and `Precedence: bulk` for older vacation programs. The Message-ID sits
//! under the From address's domain and `X-Phishloop-Kind` names the kind, so
//! intake recognises anything of phishloop's that comes back.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use tracing::{info, warn};

use crate::config::{ConfigError, MailConfig, Security, SmtpConfig, domain_of};

/// One message of the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    pub recipient: String,
    pub subject: String,
    pub text: String,
    /// An HTML alternative to `text`; text only when absent.
    pub html: Option<String>,
    /// The message kind (`acknowledgement`, `outcome`, `lesson`), sent as
    /// `X-Phishloop-Kind`.
    pub kind: String,
    /// The outbox row's id; it makes the Message-ID, so a retried delivery
    /// repeats the same Message-ID and receivers can drop the duplicate.
    pub outbox_id: String,
}

/// A delivered message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The Message-ID, with angle brackets.
    pub message_id: String,
    /// The server's reply to the end of data, such as `250 2.0.0 queued`.
    pub reply: String,
}

/// The reason one delivery attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message cannot be sent as it is; retrying will not help.
    #[error("invalid outgoing message: {0}")]
    InvalidMessage(String),
    /// The server rejected the message with a 5xx reply.
    #[error("the SMTP server rejected the message permanently: {0}")]
    Permanent(String),
    /// A 4xx reply, a timeout or a connection or TLS failure; a later
    /// attempt may succeed.
    #[error("delivery failed for now: {0}")]
    Transient(String),
}

impl SendError {
    /// True when a retry cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(self, SendError::InvalidMessage(_) | SendError::Permanent(_))
    }
}

/// The final failure of [`Mailer::deliver_with_retry`].
#[derive(Debug, thiserror::Error)]
#[error("delivery to {recipient} failed after {attempts} attempts: {last}")]
pub struct DeliveryError {
    pub recipient: String,
    pub attempts: u32,
    pub last: SendError,
}

/// Sends outbox messages through the configured SMTP server.
///
/// Create and drop it inside a Tokio runtime: lettre's connection pool
/// spawns a Tokio task, and dropping the mailer outside a runtime panics.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    domain: String,
    max_attempts: u32,
    backoff_initial: Duration,
    backoff_max: Duration,
}

impl Mailer {
    /// Builds the mailer from `[mail.smtp]`, reading the password if any.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when the section is missing or invalid, or a secret
    /// or CA file cannot be read.
    pub fn new(config: &MailConfig) -> Result<Self, ConfigError> {
        let Some(smtp) = &config.smtp else {
            return Err(ConfigError::Invalid {
                field: "mail.smtp".to_string(),
                value: "(missing)".to_string(),
                reason: "outbox delivery needs a [mail.smtp] section".to_string(),
            });
        };
        Self::from_smtp_config(smtp)
    }

    /// As [`Mailer::new`], from the section alone.
    ///
    /// # Errors
    ///
    /// As for [`Mailer::new`].
    pub fn from_smtp_config(smtp: &SmtpConfig) -> Result<Self, ConfigError> {
        smtp.validate()?;
        let server = smtp.server()?;
        let address =
            smtp.from.trim().parse().map_err(|error| invalid("mail.smtp.from", &smtp.from, &format!("{error}")))?;
        let from = Mailbox::new(smtp.from_name.clone(), address);
        let domain = domain_of(&smtp.from).unwrap_or_default();

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(server.host.clone())
            .port(server.port)
            .timeout(Some(Duration::from_secs(smtp.timeout_secs)))
            .pool_config(PoolConfig::new().max_size(4));
        if let Some(helo) = &smtp.helo_name {
            builder = builder.hello_name(ClientId::Domain(helo.clone()));
        }
        builder = match server.security {
            Security::Plain => builder.tls(Tls::None),
            Security::Starttls => builder.tls(Tls::Required(tls_parameters(smtp)?)),
            Security::Tls => builder.tls(Tls::Wrapper(tls_parameters(smtp)?)),
        };
        if let Some(username) = &smtp.username {
            let password = smtp.secret().resolve("mail.smtp")?;
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }

        Ok(Mailer {
            transport: builder.build(),
            from,
            domain,
            max_attempts: smtp.max_attempts,
            backoff_initial: Duration::from_millis(smtp.backoff_initial_ms),
            backoff_max: Duration::from_millis(smtp.backoff_max_ms.max(smtp.backoff_initial_ms)),
        })
    }

    /// Returns the Message-ID that `message` is sent with.
    pub fn message_id(&self, message: &OutgoingMessage) -> String {
        let token: String = message
            .outbox_id
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '.' { c } else { '_' })
            .take(128)
            .collect();
        format!("<phishloop.{token}@{}>", self.domain)
    }

    /// Makes one delivery attempt.
    ///
    /// # Errors
    ///
    /// [`SendError`], classified so that the caller knows whether to retry.
    pub async fn send(&self, message: &OutgoingMessage) -> Result<Sent, SendError> {
        let message_id = self.message_id(message);
        let email = self.build(message, &message_id)?;
        match self.transport.send(email).await {
            Ok(response) => {
                let reply = format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "));
                Ok(Sent { message_id, reply })
            }
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }

    /// Sends with up to `max_attempts` attempts, waiting `backoff_initial_ms`
    /// after the first failure and twice as long after each next one, up to
    /// `backoff_max_ms`. A permanent failure stops at once.
    ///
    /// # Errors
    ///
    /// [`DeliveryError`] with the attempts made and the last failure.
    pub async fn deliver_with_retry(&self, message: &OutgoingMessage) -> Result<Sent, DeliveryError> {
        let mut wait = self.backoff_initial;
        let mut attempt = 1;
        loop {
            let error = match self.send(message).await {
                Ok(sent) => {
                    info!(outbox_id = %message.outbox_id, kind = %message.kind, attempt, message_id = %sent.message_id, "outbox message delivered");
                    return Ok(sent);
                }
                Err(error) => error,
            };
            if error.is_permanent() || attempt >= self.max_attempts {
                warn!(outbox_id = %message.outbox_id, attempt, %error, "outbox delivery failed; giving up");
                return Err(DeliveryError { recipient: message.recipient.clone(), attempts: attempt, last: error });
            }
            warn!(outbox_id = %message.outbox_id, attempt, retry_in_ms = wait.as_millis() as u64, %error, "outbox delivery failed; retrying");
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(self.backoff_max);
            attempt += 1;
        }
    }

    fn build(&self, message: &OutgoingMessage, message_id: &str) -> Result<Message, SendError> {
        let recipient: Mailbox = message.recipient.trim().parse().map_err(|error| {
            SendError::InvalidMessage(format!("invalid recipient {:?}: {error}", message.recipient))
        })?;
        let kind = message.kind.trim();
        if kind.is_empty() || !kind.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(SendError::InvalidMessage(format!(
                "invalid kind {:?}: expected letters, digits, '_' or '-'",
                message.kind
            )));
        }
        let body = match &message.html {
            Some(html) => MultiPart::alternative_plain_html(message.text.clone(), html.clone()),
            None => MultiPart::mixed()
                .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(message.text.clone())),
        };
        Message::builder()
            .from(self.from.clone())
            .to(recipient)
            .subject(message.subject.replace(['\r', '\n'], " "))
            .message_id(Some(message_id.to_string()))
            .raw_header(header("Auto-Submitted", "auto-replied"))
            .raw_header(header("X-Auto-Response-Suppress", "All"))
            .raw_header(header("Precedence", "bulk"))
            .raw_header(header("X-Phishloop-Kind", kind))
            .multipart(body)
            .map_err(|error| SendError::InvalidMessage(error.to_string()))
    }
}

fn header(name: &'static str, value: &str) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value.to_string())
}

fn tls_parameters(smtp: &SmtpConfig) -> Result<TlsParameters, ConfigError> {
    let mut builder = TlsParameters::builder(smtp.host.trim_start_matches('[').trim_end_matches(']').to_string());
    if let Some(path) = &smtp.ca_file {
        let pem = std::fs::read(path).map_err(|source| ConfigError::File {
            field: "mail.smtp.ca_file".to_string(),
            path: path.clone(),
            source,
        })?;
        let certificate = Certificate::from_pem(&pem).map_err(|error| ConfigError::CaFile {
            field: "mail.smtp".to_string(),
            path: path.clone(),
            reason: error.to_string(),
        })?;
        builder = builder.certificate_store(CertificateStore::None).add_root_certificate(certificate);
    }
    builder.build_rustls().map_err(|error| invalid("mail.smtp", &smtp.host, &format!("TLS setup failed: {error}")))
}

fn invalid(field: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid { field: field.to_string(), value: value.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> Mailer {
        let config: MailConfig = toml::from_str(
            "[smtp]\nhost = \"127.0.0.1\"\nport = 2525\nsecurity = \"plain\"\nfrom = \"phishloop@Phishloop.Example\"\n",
        )
        .expect("valid");
        Mailer::new(&config).expect("builds without connecting")
    }

    fn message(outbox_id: &str, kind: &str) -> OutgoingMessage {
        OutgoingMessage {
            recipient: "ann@corp.example".to_string(),
            subject: "Thanks\r\nBcc: x@y.example".to_string(),
            text: "Thanks for your report.".to_string(),
            html: None,
            kind: kind.to_string(),
            outbox_id: outbox_id.to_string(),
        }
    }

    #[tokio::test]
    async fn message_id_uses_from_domain_and_safe_token() {
        let mailer = mailer();

        assert_eq!(mailer.message_id(&message("42", "ack")), "<phishloop.42@phishloop.example>");
        assert_eq!(mailer.message_id(&message("a b<c>@d", "ack")), "<phishloop.a_b_c__d@phishloop.example>");
    }

    #[tokio::test]
    async fn subject_line_breaks_cannot_add_headers() {
        let mailer = mailer();
        let outgoing = message("1", "acknowledgement");

        let built = mailer.build(&outgoing, "<phishloop.1@phishloop.example>").expect("builds");
        let text = String::from_utf8_lossy(&built.formatted()).to_string();

        assert!(!text.contains("\r\nBcc:"), "{text}");
        assert!(text.contains("X-Phishloop-Kind: acknowledgement"), "{text}");
        assert!(text.contains("Content-Type: text/plain"), "{text}");
    }

    #[tokio::test]
    async fn invalid_kind_is_rejected() {
        let mailer = mailer();

        let error = mailer.build(&message("1", "lesson\r\nX-Evil: 1"), "<id@phishloop.example>").expect_err("invalid");

        assert!(error.is_permanent(), "{error}");
        assert!(error.to_string().contains("kind"), "{error}");
    }
}
