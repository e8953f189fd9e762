//! `sys.info.get_time`.

use crate::error::CapError;
use crate::stdlib::generated::sys::info::{
    GetTimeCtx, GetTimeFormat, GetTimeParams, GetTimeResult,
};
use jiff::tz::TimeZone;

/// `sys.info.get_time`: the current time in an IANA time zone (bundled database).
///
/// `iso8601` and `rfc3339` both give `2026-11-26T13:05:09+01:00` (whole seconds, numeric
/// offset, `+00:00` for UTC); `rfc2822` gives `Thu, 26 Nov 2026 13:05:09 +0100`; `unix`
/// gives the seconds since the epoch as a string. `timezone` in the result is the
/// zone's canonical IANA name. An unknown zone is an invalid-input error on `timezone`.
pub fn get_time(ctx: &mut GetTimeCtx<'_>, p: GetTimeParams) -> Result<GetTimeResult, CapError> {
    let tz = TimeZone::get(&p.timezone).map_err(|_| unknown_zone(&p.timezone))?;
    let now = ctx.now();
    let unix = now.as_second();
    let zdt = now.to_zoned_datetime(tz.clone());
    let timestamp = match p.format {
        GetTimeFormat::Iso8601 | GetTimeFormat::Rfc3339 => {
            zdt.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
        }
        GetTimeFormat::Rfc2822 => jiff::fmt::rfc2822::to_string(&zdt).map_err(|e| {
            CapError::execution(format!("cannot write the time in RFC 2822 format: {e}"))
        })?,
        GetTimeFormat::Unix => unix.to_string(),
    };
    let timezone = tz.iana_name().unwrap_or(&p.timezone).to_string();
    Ok(GetTimeResult {
        timestamp,
        timezone,
        unix,
    })
}

/// The error for a time zone name the database does not know, suggesting a close name.
fn unknown_zone(name: &str) -> CapError {
    let lower = name.to_ascii_lowercase();
    let best = jiff::tz::db()
        .available()
        .map(|n| {
            let n = n.as_str().to_string();
            (strsim::levenshtein(&n.to_ascii_lowercase(), &lower), n)
        })
        .min();
    let hint = match best {
        Some((d, n)) if d <= 3 => format!(
            "did you mean `{n}`? Use an IANA name such as UTC, Europe/Paris or America/New_York"
        ),
        _ => {
            "use an IANA time zone name such as UTC, Europe/Paris, America/New_York or Asia/Kolkata"
                .to_string()
        }
    };
    CapError::invalid_field(
        "timezone",
        format!("is not a known IANA time zone: `{name}`"),
    )
    .with_hint(hint)
}
