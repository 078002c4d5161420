//! Detection of rules that read values from a message's header block.
//!
//! Input without header fields (a pasted body) still gets its rules run,
//! so that the reviewer gets the evidence in its text and links. Rules over the
//! sender, the Received chain, authentication results, header fields or
//! parse defects would only see the empty values such input has (a missing
//! From reads as a malformed sender), so their matches are left out there.

use cel::common::ast::{EntryExpr, Expr, IdedExpr, LiteralValue, operators};

/// Fields of `message` that come from the header block or describe its
/// defects.
const HEADER_FIELDS: &[&str] = &["headers", "sender", "received", "authentication", "parse"];

/// Returns true when `expression` reads a field of [`HEADER_FIELDS`], or
/// uses `message` in a way other than selecting a named field (indexing it
/// by a computed key, passing it whole), which may read any field.
pub(crate) fn reads_header_fields(expression: &IdedExpr) -> bool {
    match &expression.expr {
        Expr::Ident(name) => name == "message",
        Expr::Select(select) => match &select.operand.expr {
            Expr::Ident(name) if name == "message" => HEADER_FIELDS.contains(&select.field.as_str()),
            _ => reads_header_fields(&select.operand),
        },
        Expr::Call(call) => {
            if call.func_name == operators::INDEX
                && let [operand, key] = call.args.as_slice()
                && matches!(&operand.expr, Expr::Ident(name) if name == "message")
            {
                return match &key.expr {
                    Expr::Literal(LiteralValue::String(field)) => HEADER_FIELDS.contains(&field.inner()),
                    _ => true,
                };
            }
            call.target.as_deref().is_some_and(reads_header_fields) || call.args.iter().any(reads_header_fields)
        }
        Expr::Comprehension(comprehension) => [
            &comprehension.iter_range,
            &comprehension.accu_init,
            &comprehension.loop_cond,
            &comprehension.loop_step,
            &comprehension.result,
        ]
        .into_iter()
        .any(reads_header_fields),
        Expr::List(list) => list.elements.iter().any(reads_header_fields),
        Expr::Map(map) => map.entries.iter().any(|entry| match &entry.expr {
            EntryExpr::MapEntry(entry) => reads_header_fields(&entry.key) || reads_header_fields(&entry.value),
            EntryExpr::StructField(field) => reads_header_fields(&field.value),
        }),
        Expr::Struct(structure) => structure.entries.iter().any(|entry| match &entry.expr {
            EntryExpr::MapEntry(entry) => reads_header_fields(&entry.key) || reads_header_fields(&entry.value),
            EntryExpr::StructField(field) => reads_header_fields(&field.value),
        }),
        Expr::Literal(_) | Expr::Unspecified => false,
    }
}

#[cfg(test)]
mod tests {
    use cel::Env;

    use super::*;

    fn reads(text: &str) -> bool {
        let program = Env::stdlib().compile(text).expect("compiles");
        reads_header_fields(program.expression())
    }

    #[test]
    fn header_field_selections() {
        assert!(reads("message.sender.from_malformed"));
        assert!(reads("message.authentication.trusted.dmarc == 'fail'"));
        assert!(reads("message.urls.exists(u, u.host == message.sender.from_domain)"));
        assert!(reads("message.parse.defects.exists(d, d.code == 'missing_date')"));
        assert!(reads("message['received'].hops.size() > 3"));
    }

    #[test]
    fn content_selections() {
        assert!(!reads("message.urls.exists(u, u.lookalike != null)"));
        assert!(!reads("message.cues.exists(c, c.kind == 'urgency') && message.attachments.size() > 0"));
        assert!(!reads("message['urls'].size() > 0"));
        assert!(!reads("report.reporter.address == 'a@example.org'"));
    }

    #[test]
    fn whole_message_counts_as_header_read() {
        assert!(reads("message[config.field] == 1"));
        assert!(reads("has(message.sender)"));
        assert!(reads("[message].size() == 1"));
    }

    #[test]
    fn variable_named_like_field() {
        // `sender` here is a loop variable, not the message's field.
        assert!(!reads("message.urls.exists(sender, sender.host == 'a.example')"));
    }
}
