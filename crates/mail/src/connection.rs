//! IMAP connections: TCP, then TLS or STARTTLS as configured, then login.
//! Shared by intake and purge.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_imap::{Client, Session};
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::config::{Security, ServerAddress};

/// An IMAP session over plain TCP or TLS.
pub(crate) type ImapSession = Session<ImapStream>;

/// Failures to reach or log in to an IMAP server, or of a command.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot connect to {host}:{port}: {source}")]
    Connect {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {host}:{port} failed: {source}; check the certificate or ca_file")]
    Tls {
        host: String,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid server name {0:?} for TLS")]
    ServerName(String),
    #[error("{host}:{port} did not send an IMAP greeting")]
    NoGreeting { host: String, port: u16 },
    #[error("STARTTLS on {host}:{port} failed: {source}; use security = \"tls\" if the server only offers IMAPS")]
    StartTls {
        host: String,
        port: u16,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("login as {user:?} failed: {source}")]
    Login {
        user: String,
        #[source]
        source: async_imap::error::Error,
    },
    #[error("{operation} timed out after {seconds} s")]
    Timeout { operation: String, seconds: u64 },
    #[error("{operation} failed: {source}")]
    Command {
        operation: String,
        #[source]
        source: async_imap::error::Error,
    },
}

impl ImapError {
    pub(crate) fn command(operation: impl Into<String>) -> impl FnOnce(async_imap::error::Error) -> ImapError {
        let operation = operation.into();
        move |source| ImapError::Command { operation, source }
    }
}

/// The byte stream under an IMAP client.
#[derive(Debug)]
pub(crate) enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(stream) => Pin::new(stream).poll_read(context, buffer),
            ImapStream::Tls(stream) => Pin::new(stream.as_mut()).poll_read(context, buffer),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(self: Pin<&mut Self>, context: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(stream) => Pin::new(stream).poll_write(context, data),
            ImapStream::Tls(stream) => Pin::new(stream.as_mut()).poll_write(context, data),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(stream) => Pin::new(stream).poll_flush(context),
            ImapStream::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(context),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(stream) => Pin::new(stream).poll_shutdown(context),
            ImapStream::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(context),
        }
    }
}

/// How to reach one IMAP server: address, TLS settings and a time limit
/// for connecting and logging in.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) server: ServerAddress,
    pub(crate) tls: Arc<rustls::ClientConfig>,
    pub(crate) timeout: Duration,
}

impl Connector {
    /// Connects, secures the connection as configured and logs in.
    pub(crate) async fn login(&self, user: &str, password: &str) -> Result<ImapSession, ImapError> {
        let operation = format!("connecting to {}:{} as {user:?}", self.server.host, self.server.port);
        let attempt = async {
            let client = self.connect().await?;
            client
                .login(user, password)
                .await
                .map_err(|(source, _)| ImapError::Login { user: user.to_string(), source })
        };
        with_timeout(self.timeout, operation, attempt).await
    }

    async fn connect(&self) -> Result<Client<ImapStream>, ImapError> {
        let host = &self.server.host;
        let port = self.server.port;
        let tcp = TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|source| ImapError::Connect { host: host.clone(), port, source })?;
        let _ = tcp.set_nodelay(true);

        match self.server.security {
            Security::Plain => self.greeted(Client::new(ImapStream::Plain(tcp))).await,
            Security::Tls => {
                let tls = self.handshake(tcp).await?;
                self.greeted(Client::new(ImapStream::Tls(Box::new(tls)))).await
            }
            Security::Starttls => {
                let mut client = self.greeted(Client::new(ImapStream::Plain(tcp))).await?;
                client.run_command_and_check_ok("STARTTLS", None).await.map_err(|source| ImapError::StartTls {
                    host: host.clone(),
                    port,
                    source,
                })?;
                let tcp = match client.into_inner() {
                    ImapStream::Plain(tcp) => tcp,
                    // Only reachable if the code above changes: the stream
                    // is plain until STARTTLS completes.
                    ImapStream::Tls(_) => return Err(ImapError::NoGreeting { host: host.clone(), port }),
                };
                let tls = self.handshake(tcp).await?;
                Ok(Client::new(ImapStream::Tls(Box::new(tls))))
            }
        }
    }

    async fn greeted(&self, mut client: Client<ImapStream>) -> Result<Client<ImapStream>, ImapError> {
        let greeting = client.read_response().await.map_err(|source| ImapError::Connect {
            host: self.server.host.clone(),
            port: self.server.port,
            source,
        })?;
        match greeting {
            Some(_) => Ok(client),
            None => Err(ImapError::NoGreeting { host: self.server.host.clone(), port: self.server.port }),
        }
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, ImapError> {
        let host = self.server.host.trim_start_matches('[').trim_end_matches(']').to_string();
        let name = ServerName::try_from(host.clone()).map_err(|_| ImapError::ServerName(host.clone()))?;
        TlsConnector::from(self.tls.clone()).connect(name, tcp).await.map_err(|source| ImapError::Tls {
            host: self.server.host.clone(),
            port: self.server.port,
            source,
        })
    }
}

/// Runs `future`, failing with [`ImapError::Timeout`] after `limit`.
pub(crate) async fn with_timeout<T>(
    limit: Duration,
    operation: String,
    future: impl Future<Output = Result<T, ImapError>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(limit, future).await {
        Ok(result) => result,
        Err(_) => Err(ImapError::Timeout { operation, seconds: limit.as_secs() }),
    }
}

/// Creates `folder` unless it exists. Servers reply NO to CREATE of an
/// existing folder, so the folder list is checked first.
pub(crate) async fn ensure_folder(session: &mut ImapSession, folder: &str) -> Result<(), ImapError> {
    use futures::TryStreamExt;

    let existing: Vec<_> = session
        .list(Some(""), Some(folder))
        .await
        .map_err(ImapError::command(format!("LIST {folder}")))?
        .try_collect()
        .await
        .map_err(ImapError::command(format!("LIST {folder}")))?;
    if existing.iter().any(|name| name.name() == folder) {
        return Ok(());
    }
    session.create(folder).await.map_err(ImapError::command(format!("CREATE {folder}")))
}

/// Quotes `value` as an IMAP quoted string, or returns `None` when it
/// cannot be one (non-ASCII, CR, LF or NUL), so the caller can use a
/// literal or leave the criterion out.
pub(crate) fn quoted(value: &str) -> Option<String> {
    if !value.is_ascii() || value.chars().any(|c| c.is_ascii_control()) {
        return None;
    }
    Some(format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")))
}

/// Formats a UTF-8 search value as a non-synchronising literal (`{n+}`,
/// RFC 7888). Valid only when the server announces LITERAL+.
pub(crate) fn literal_plus(value: &str) -> Option<String> {
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return None;
    }
    Some(format!("{{{}+}}\r\n{value}", value.len()))
}
