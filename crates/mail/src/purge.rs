//! The IMAP purge connector: moves every delivered copy of a reported
//! message to a quarantine folder in each configured mailbox, and back on
//! undo.
//!
//! Each mailbox is opened through a master (administrator) login, so one
//! credential reaches every mailbox. Copies are found in two ways:
//! by Message-ID, and by sender and subject followed by a check of the
//! content fingerprint, which finds copies whose Message-ID differs per
//! recipient. Before a copy is moved it gets the keyword
//! `$PhishloopOrigin{n}`, where `n` is the position of its folder in
//! `folders`, so undo finds the folder to put it back in without any state outside
//! the mailbox. Because of that, undo needs the same `folders` list, in the
//! same order, as the purge that it reverses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures::{StreamExt, TryStreamExt};
use phishloop_response::{ActionKind, Connector, Operation, Outcome, OutcomeStatus, PlannedAction, Target};
use serde::{Deserialize, Serialize};
use tracing::{debug, info, warn};

use crate::config::{ConfigError, MailConfig, PurgeConfig, check_user_name};
use crate::connection::{self, ImapError, ImapSession, ensure_folder, literal_plus, quoted, with_timeout};
use crate::fingerprint::Fingerprinter;
use crate::intake::move_uids;
use crate::tls;

/// Candidates fetched per folder for the fingerprint check. A sender and
/// subject that match more messages than this are most likely not a
/// phishing run; the rest is skipped and the folder's `note` records it.
const MAX_CANDIDATES: usize = 500;

/// The connector name that playbook steps use.
pub const CONNECTOR_NAME: &str = "imap";

/// Purges copies of a message from IMAP mailboxes.
pub struct ImapPurgeConnector {
    inner: Arc<Inner>,
    /// One lock per idempotency key in progress. Two executes of one action
    /// in this process run one after the other, because two concurrent
    /// moves of the same copy can both copy it into the quarantine folder.
    running: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct Inner {
    config: PurgeConfig,
    users: Vec<String>,
    master_password: String,
    connector: connection::Connector,
    fingerprinter: Fingerprinter,
}

/// The record of one execute or undo, stored as the outcome's `data`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeReport {
    pub quarantine_folder: String,
    /// One entry per configured mailbox, sorted by user.
    pub mailboxes: Vec<MailboxResult>,
}

impl PurgeReport {
    /// Total copies moved, over all mailboxes.
    pub fn moved(&self) -> usize {
        self.mailboxes.iter().map(|mailbox| mailbox.moved).sum()
    }

    /// Mailboxes that failed.
    pub fn failed(&self) -> impl Iterator<Item = &MailboxResult> {
        self.mailboxes.iter().filter(|mailbox| mailbox.error.is_some())
    }
}

/// The result in one mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MailboxResult {
    pub user: String,
    /// Copies found (on execute in the searched folders, on undo in the
    /// quarantine folder).
    pub found: usize,
    /// Copies moved (to quarantine on execute, back on undo).
    pub moved: usize,
    pub folders: Vec<FolderResult>,
    /// The reason the mailbox failed; the counts cover the work done before.
    pub error: Option<String>,
}

/// The result in one folder: on execute the folder searched, on undo the
/// folder copies went back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderResult {
    pub folder: String,
    pub found: usize,
    pub moved: usize,
    /// Found by the Message-ID search.
    pub by_message_id: usize,
    /// Found by sender and subject with an equal content fingerprint.
    pub by_fingerprint: usize,
    /// Message-IDs of the moved copies, as their headers give them.
    pub message_ids: Vec<String>,
    /// A folder-level problem that did not fail the mailbox, such as a
    /// missing folder or too many candidates.
    pub note: Option<String>,
}

impl FolderResult {
    fn new(folder: &str) -> Self {
        FolderResult {
            folder: folder.to_string(),
            found: 0,
            moved: 0,
            by_message_id: 0,
            by_fingerprint: 0,
            message_ids: Vec::new(),
            note: None,
        }
    }
}

/// A reported message's identifying values, taken from `Target::Message`.
struct MessageTarget {
    message_id: Option<String>,
    fingerprint: String,
    subject: Option<String>,
    sender: Option<String>,
}

/// A copy found in a folder.
struct FoundCopy {
    uid: u32,
    message_id: Option<String>,
    by_fingerprint: bool,
}

impl ImapPurgeConnector {
    /// Builds the connector from `[mail.purge]`, reading the master password
    /// and the users file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `[mail.purge]` is missing or invalid, or a
    /// secret or file cannot be read.
    pub fn new(config: &MailConfig) -> Result<Self, ConfigError> {
        let Some(purge) = &config.purge else {
            return Err(ConfigError::Invalid {
                field: "mail.purge".to_string(),
                value: "(missing)".to_string(),
                reason: "the imap connector needs a [mail.purge] section".to_string(),
            });
        };
        Self::from_purge_config(purge)
    }

    /// As [`ImapPurgeConnector::new`], from the section alone.
    ///
    /// # Errors
    ///
    /// As for [`ImapPurgeConnector::new`].
    pub fn from_purge_config(purge: &PurgeConfig) -> Result<Self, ConfigError> {
        purge.validate()?;
        let users = purge.all_users()?;
        for user in &users {
            check_user_name(user)?;
        }
        let master_password = purge.secret().resolve("mail.purge")?;
        let tls = tls::client_config("mail.purge", purge.ca_file.as_deref())?;
        let connector = connection::Connector {
            server: purge.server()?,
            tls,
            timeout: Duration::from_secs(purge.mailbox_timeout_secs),
        };
        let fingerprinter = Fingerprinter::new().map_err(|error| ConfigError::Invalid {
            field: "analysis".to_string(),
            value: "(default configuration)".to_string(),
            reason: error.to_string(),
        })?;
        let inner = Inner { config: purge.clone(), users, master_password, connector, fingerprinter };
        Ok(ImapPurgeConnector { inner: Arc::new(inner), running: Mutex::new(HashMap::new()) })
    }

    /// Runs `operation` once no other execute or undo of the same action
    /// runs in this process.
    ///
    /// NOTE: processes do not share these locks. Two processes executing
    /// one action at once can still leave two copies of a message in
    /// quarantine, though none in the searched folders.
    async fn run_alone(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let lock = {
            let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            Arc::clone(running.entry(action.idempotency_key.clone()).or_default())
        };
        let outcome = {
            let _held = lock.lock().await;
            self.run(action, operation).await
        };

        let mut running = self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // The map and this call hold the only references when no other call waits.
        if Arc::strong_count(&lock) == 2 {
            running.remove(&action.idempotency_key);
        }
        outcome
    }

    /// Runs `operation` over every mailbox with bounded concurrency and
    /// builds the outcome.
    async fn run(&self, action: &PlannedAction, operation: Operation) -> Outcome {
        let (ActionKind::PurgeCopies, Target::Message { message_id, content_fingerprint, subject, sender }) =
            (action.kind, &action.target)
        else {
            let details = format!("the imap connector only purges messages; {} is not supported", action.kind);
            return Outcome::new(CONNECTOR_NAME, action, operation, OutcomeStatus::Unsupported, details);
        };
        let message_id = message_id.as_deref().map(|id| id.trim().trim_start_matches('<').trim_end_matches('>'));
        let target = Arc::new(MessageTarget {
            message_id: message_id.filter(|id| !id.is_empty()).map(str::to_string),
            fingerprint: content_fingerprint.clone(),
            subject: subject.clone(),
            sender: sender.clone(),
        });
        if target.message_id.is_none() && (target.sender.is_none() || target.fingerprint.is_empty()) {
            let details = "the message has neither a Message-ID nor a sender and fingerprint to search for".to_string();
            return Outcome::new(CONNECTOR_NAME, action, operation, OutcomeStatus::Failed, details);
        }

        let users = self.inner.users.clone();
        let mut mailboxes: Vec<MailboxResult> = futures::stream::iter(users)
            .map(|user| {
                let inner = self.inner.clone();
                let target = target.clone();
                async move { inner.mailbox(&user, &target, operation).await }
            })
            .buffer_unordered(self.inner.config.concurrency)
            .collect()
            .await;
        mailboxes.sort_by(|left, right| left.user.cmp(&right.user));

        let report = PurgeReport { quarantine_folder: self.inner.config.quarantine_folder.clone(), mailboxes };
        outcome_of(action, operation, &report)
    }
}

#[async_trait]
impl Connector for ImapPurgeConnector {
    fn name(&self) -> &str {
        CONNECTOR_NAME
    }

    async fn execute(&self, action: &PlannedAction) -> Outcome {
        self.run_alone(action, Operation::Execute).await
    }

    async fn undo(&self, action: &PlannedAction) -> Outcome {
        self.run_alone(action, Operation::Undo).await
    }
}

/// Builds the outcome. Its status is failed only when every mailbox failed,
/// so a partial purge is recorded as done with its failures listed.
fn outcome_of(action: &PlannedAction, operation: Operation, report: &PurgeReport) -> Outcome {
    let total = report.mailboxes.len();
    let failed: Vec<String> = report
        .failed()
        .map(|mailbox| format!("{} ({})", mailbox.user, mailbox.error.as_deref().unwrap_or("")))
        .collect();
    let status = if total == 0 || failed.len() == total { OutcomeStatus::Failed } else { OutcomeStatus::Succeeded };
    let verb = match operation {
        Operation::Execute => format!("moved {} copies to {}", report.moved(), report.quarantine_folder),
        Operation::Undo => format!("restored {} copies from {}", report.moved(), report.quarantine_folder),
    };
    let mut details = format!("{verb} in {} of {total} mailboxes", total - failed.len());
    if total == 0 {
        details = "no mailbox is configured in mail.purge.users or users_file".to_string();
    } else if !failed.is_empty() {
        details.push_str(&format!("; {} failed: {}", failed.len(), failed.join("; ")));
    }
    info!(idempotency_key = %action.idempotency_key, moved = report.moved(), failed = failed.len(), "imap purge finished");

    let mut outcome = Outcome::new(CONNECTOR_NAME, action, operation, status, details);
    outcome.data = serde_json::to_value(report).ok();
    outcome
}

impl Inner {
    async fn mailbox(&self, user: &str, target: &MessageTarget, operation: Operation) -> MailboxResult {
        let mut result = MailboxResult { user: user.to_string(), found: 0, moved: 0, folders: Vec::new(), error: None };
        let limit = self.connector.timeout;
        let work = async {
            let login = self.config.login_for(user);
            let mut session = self.connector.login(&login, &self.master_password).await?;
            let outcome = match operation {
                Operation::Execute => self.quarantine(&mut session, target, &mut result).await,
                Operation::Undo => self.restore(&mut session, target, &mut result).await,
            };
            let _ = session.logout().await;
            outcome
        };
        let operation_name = format!("purging the mailbox of {user}");
        if let Err(error) = with_timeout(limit, operation_name, work).await {
            warn!(user, %error, "imap purge of a mailbox failed");
            result.error = Some(error.to_string());
        }
        result.found = result.folders.iter().map(|folder| folder.found).sum();
        result.moved = result.folders.iter().map(|folder| folder.moved).sum();
        result
    }

    async fn quarantine(
        &self,
        session: &mut ImapSession,
        target: &MessageTarget,
        result: &mut MailboxResult,
    ) -> Result<(), ImapError> {
        let capabilities = Capabilities::of(session).await?;
        let quarantine = &self.config.quarantine_folder;
        ensure_folder(session, quarantine).await?;

        for (index, folder) in self.config.folders.iter().enumerate() {
            let mut folder_result = FolderResult::new(folder);
            if let Err(error) = session.select(folder).await {
                debug!(user = %result.user, folder, %error, "folder not searched");
                folder_result.note = Some(format!("folder not searched: {error}"));
                result.folders.push(folder_result);
                continue;
            }
            let copies = self.find_copies(session, target, &capabilities, &mut folder_result).await?;
            folder_result.found = copies.len();
            if !copies.is_empty() {
                let uid_set = uid_set(&copies);
                store_flags(session, &uid_set, &format!("+FLAGS.SILENT ({})", origin_keyword(index))).await?;
                move_uids(session, &uid_set, quarantine, capabilities.has_move, capabilities.has_uidplus).await?;
                folder_result.moved = copies.len();
                folder_result.message_ids = copies.iter().filter_map(|copy| copy.message_id.clone()).collect();
            }
            result.folders.push(folder_result);
        }
        Ok(())
    }

    async fn restore(
        &self,
        session: &mut ImapSession,
        target: &MessageTarget,
        result: &mut MailboxResult,
    ) -> Result<(), ImapError> {
        let capabilities = Capabilities::of(session).await?;
        let quarantine = &self.config.quarantine_folder;
        if let Err(error) = session.select(quarantine).await {
            // No quarantine folder: nothing was ever purged here.
            debug!(user = %result.user, %error, "no quarantine folder to restore from");
            return Ok(());
        }
        let mut search = FolderResult::new(quarantine);
        let copies = self.find_copies(session, target, &capabilities, &mut search).await?;
        let found: BTreeMap<u32, FoundCopy> = copies.into_iter().map(|copy| (copy.uid, copy)).collect();

        for (index, folder) in self.config.folders.iter().enumerate() {
            let keyword = origin_keyword(index);
            let marked = session
                .uid_search(format!("KEYWORD {keyword}"))
                .await
                .map_err(ImapError::command("UID SEARCH KEYWORD"))?;
            let back: Vec<&FoundCopy> = found.values().filter(|copy| marked.contains(&copy.uid)).collect();
            let mut folder_result = FolderResult::new(folder);
            folder_result.found = back.len();
            folder_result.by_message_id = back.iter().filter(|copy| !copy.by_fingerprint).count();
            folder_result.by_fingerprint = back.len() - folder_result.by_message_id;
            if !back.is_empty() {
                let uid_set = back.iter().map(|copy| copy.uid.to_string()).collect::<Vec<_>>().join(",");
                store_flags(session, &uid_set, &format!("-FLAGS.SILENT ({keyword})")).await?;
                move_uids(session, &uid_set, folder, capabilities.has_move, capabilities.has_uidplus).await?;
                folder_result.moved = back.len();
                folder_result.message_ids = back.iter().filter_map(|copy| copy.message_id.clone()).collect();
            }
            result.folders.push(folder_result);
        }
        Ok(())
    }

    /// Searches the selected folder for copies of the target.
    async fn find_copies(
        &self,
        session: &mut ImapSession,
        target: &MessageTarget,
        capabilities: &Capabilities,
        folder_result: &mut FolderResult,
    ) -> Result<Vec<FoundCopy>, ImapError> {
        let mut copies: BTreeMap<u32, FoundCopy> = BTreeMap::new();

        if let Some(id) = &target.message_id {
            let value = format!("<{id}>");
            if let Some(argument) = search_argument(&value, capabilities) {
                let uids = uid_search(session, &format!("HEADER Message-ID {argument}")).await?;
                for uid in uids {
                    copies.insert(uid, FoundCopy { uid, message_id: Some(value.clone()), by_fingerprint: false });
                }
            }
        }
        folder_result.by_message_id = copies.len();

        let Some(criteria) = sender_criteria(target, capabilities) else { return Ok(copies.into_values().collect()) };
        let candidates: BTreeSet<u32> =
            uid_search(session, &criteria).await?.into_iter().filter(|uid| !copies.contains_key(uid)).collect();
        if candidates.len() > MAX_CANDIDATES {
            folder_result.note = Some(format!(
                "{} messages match the sender and subject; only the first {MAX_CANDIDATES} were compared",
                candidates.len()
            ));
        }
        let candidates: Vec<u32> = candidates.into_iter().take(MAX_CANDIDATES).collect();
        for (uid, raw) in fetch_bodies(session, &candidates).await? {
            if self.fingerprinter.fingerprint(&raw).as_deref() != Some(target.fingerprint.as_str()) {
                continue;
            }
            let message_id = message_id_of(&raw);
            copies.insert(uid, FoundCopy { uid, message_id, by_fingerprint: true });
            folder_result.by_fingerprint += 1;
        }
        Ok(copies.into_values().collect())
    }
}

/// The server extensions that change how the connector talks to it.
struct Capabilities {
    has_move: bool,
    has_uidplus: bool,
    has_literal_plus: bool,
}

impl Capabilities {
    async fn of(session: &mut ImapSession) -> Result<Self, ImapError> {
        let capabilities = session.capabilities().await.map_err(ImapError::command("CAPABILITY"))?;
        Ok(Capabilities {
            has_move: capabilities.has_str("MOVE"),
            has_uidplus: capabilities.has_str("UIDPLUS"),
            has_literal_plus: capabilities.has_str("LITERAL+"),
        })
    }
}

/// A search value as a quoted string, or as a LITERAL+ literal for UTF-8
/// text when the server allows it; `None` when neither is possible.
fn search_argument(value: &str, capabilities: &Capabilities) -> Option<String> {
    quoted(value).or_else(|| capabilities.has_literal_plus.then(|| literal_plus(value)).flatten())
}

/// `FROM sender [SUBJECT subject]`, with `CHARSET UTF-8` when a value is not
/// ASCII. The subject is left out when it cannot be sent, because the
/// fingerprint check decides in the end.
fn sender_criteria(target: &MessageTarget, capabilities: &Capabilities) -> Option<String> {
    if target.fingerprint.is_empty() {
        return None;
    }
    let sender = search_argument(target.sender.as_deref()?, capabilities)?;
    let subject = target
        .subject
        .as_deref()
        .filter(|subject| !subject.trim().is_empty())
        .and_then(|subject| search_argument(subject, capabilities));
    let ascii =
        target.sender.as_deref().is_some_and(str::is_ascii) && target.subject.as_deref().is_none_or(str::is_ascii);
    let charset = if ascii { "" } else { "CHARSET UTF-8 " };
    Some(match subject {
        Some(subject) => format!("{charset}FROM {sender} SUBJECT {subject}"),
        None => format!("{charset}FROM {sender}"),
    })
}

async fn uid_search(session: &mut ImapSession, criteria: &str) -> Result<BTreeSet<u32>, ImapError> {
    let uids = session.uid_search(criteria).await.map_err(ImapError::command("UID SEARCH"))?;
    Ok(uids.into_iter().collect())
}

async fn fetch_bodies(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>, ImapError> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let uid_set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let fetches: Vec<_> = session
        .uid_fetch(&uid_set, "(UID BODY.PEEK[])")
        .await
        .map_err(ImapError::command("UID FETCH"))?
        .try_collect()
        .await
        .map_err(ImapError::command("UID FETCH"))?;
    Ok(fetches.iter().filter_map(|fetch| Some((fetch.uid?, fetch.body()?.to_vec()))).collect())
}

async fn store_flags(session: &mut ImapSession, uid_set: &str, change: &str) -> Result<(), ImapError> {
    let _: Vec<_> = session
        .uid_store(uid_set, change)
        .await
        .map_err(ImapError::command("UID STORE"))?
        .try_collect()
        .await
        .map_err(ImapError::command("UID STORE"))?;
    Ok(())
}

fn uid_set(copies: &[FoundCopy]) -> String {
    copies.iter().map(|copy| copy.uid.to_string()).collect::<Vec<_>>().join(",")
}

/// The keyword that records a quarantined copy's original folder.
fn origin_keyword(folder_index: usize) -> String {
    format!("$PhishloopOrigin{folder_index}")
}

fn message_id_of(raw: &[u8]) -> Option<String> {
    let message = mail_parser::MessageParser::new().parse_headers(raw)?;
    message.message_id().map(|id| format!("<{id}>"))
}
