//! Intake: turns input files into messages and report wrappers into the
//! reported originals.
//!
//! A file may hold one RFC 5322 message, an mbox with one or more messages,
//! or an Outlook .msg. [`split_input`] yields the messages of a file, with
//! .msg files converted to RFC 5322 so that one analysis path serves all
//! formats. [`unwrap_report`] looks at one parsed message and decides whether
//! it is a report (a forward, an attachment from a report button) and, if so,
//! extracts the reported originals and the reporter. Everything here is pure:
//! bytes in, data out.

mod boundary;
mod forward;
mod msg;
mod sniff;
mod split;
mod wrapper;

pub use msg::{MsgError, msg_to_rfc822};
pub use sniff::{CFB_MAGIC, MessageKind, sniff_message};
pub use split::{InputMessage, split_input};
pub use wrapper::{Hints, Original, ReportMode, Unwrapped, unwrap_report};
