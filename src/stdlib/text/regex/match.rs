//! `text.regex.match`.

use crate::error::CapError;
use crate::stdlib::generated::text::regex::*;
use serde_json::{Map, Value};

/// Most memory a compiled pattern may take; larger ones fail to compile with an error.
const REGEX_SIZE_LIMIT: usize = 10 * 1024 * 1024;

/// How many matches are collected between two checks of the time limit.
const MATCHES_PER_CHECKPOINT: usize = 256;

/// `text.regex.match`: finds the matches of `pattern` in `text`.
///
/// Each match gives its text, its byte offsets, its numbered groups (1..n, null for a
/// group that did not take part) and its named groups. With `global` false only the
/// first match is returned; otherwise at most `max_matches`, with `truncated` true when
/// there were more. An invalid or too large pattern is an invalid-input error on
/// `pattern`.
pub fn r#match(ctx: &mut MatchCtx<'_>, p: MatchParams) -> Result<MatchResult, CapError> {
    let mut builder = regex::RegexBuilder::new(&p.pattern);
    builder
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT);
    for flag in &p.flags {
        match flag {
            MatchFlagsItem::Ignorecase => builder.case_insensitive(true),
            MatchFlagsItem::Multiline => builder.multi_line(true),
            MatchFlagsItem::Dotall => builder.dot_matches_new_line(true),
        };
    }
    let re = builder.build().map_err(|e| match e {
        regex::Error::CompiledTooBig(limit) => CapError::invalid_field(
            "pattern",
            format!("is too large: once compiled it would need more than {limit} bytes"),
        )
        .with_hint("simplify the pattern: fewer or smaller counted repetitions such as {1000}, smaller character classes"),
        other => CapError::invalid_field(
            "pattern",
            format!("is not a valid regular expression: {other}"),
        )
        .with_hint("use Rust regex syntax (no look-around or back-references); escape special characters such as ( [ . * with a backslash"),
    })?;

    let limit = if p.global {
        usize::try_from(p.max_matches).unwrap_or(usize::MAX)
    } else {
        1
    };
    let names: Vec<(usize, &str)> = re
        .capture_names()
        .enumerate()
        .filter_map(|(i, n)| n.map(|n| (i, n)))
        .collect();
    let mut matches = Vec::new();
    let mut truncated = false;
    for caps in re.captures_iter(&p.text) {
        if matches.len() == limit {
            // Only reached when there is one more match than the limit allows.
            truncated = p.global;
            break;
        }
        if matches.len() % MATCHES_PER_CHECKPOINT == MATCHES_PER_CHECKPOINT - 1 {
            ctx.checkpoint()?;
        }
        let whole = caps.get(0).expect("group 0 always takes part in a match");
        let group = |i: usize| {
            caps.get(i)
                .map_or(Value::Null, |m| Value::String(m.as_str().to_string()))
        };
        let groups = (1..caps.len()).map(group).collect();
        let named: Map<String, Value> = names
            .iter()
            .map(|&(i, name)| (name.to_string(), group(i)))
            .collect();
        matches.push(MatchMatchesItem {
            r#match: whole.as_str().to_string(),
            start: whole.start() as i64,
            end: whole.end() as i64,
            groups,
            named,
        });
    }
    Ok(MatchResult { matches, truncated })
}
