//! Mail for phishloop over IMAP and SMTP: reporting mailboxes become
//! reports ([`Intake`]), copies of a reported message are purged from
//! mailboxes ([`ImapPurgeConnector`]), and outbox messages are delivered
//! ([`Mailer`]).
//!
//! The crate keeps no database state. Intake hands each message to a
//! [`ReportSink`] that stores it idempotently by source key; the purge
//! connector keeps what undo needs in the mailboxes themselves.

mod classify;
mod config;
mod connection;
mod fingerprint;
mod intake;
mod purge;
mod smtp;
mod tls;

pub use classify::{Disposition, classify};
pub use config::{ConfigError, IntakeAccount, MailConfig, PurgeConfig, Secret, Security, ServerAddress, SmtpConfig};
pub use connection::ImapError;
pub use intake::{Intake, PassSummary, ReportSink, SinkError, Submitted};
pub use purge::{CONNECTOR_NAME, FolderResult, ImapPurgeConnector, MailboxResult, PurgeReport};
pub use smtp::{DeliveryError, Mailer, OutgoingMessage, SendError, Sent};
