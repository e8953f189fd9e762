//! `sys.info.*` handlers.

use crate::error::CapError;
use crate::stdlib::generated::sys::info::*;
use jiff::tz::TimeZone;

/// `sys.info.get_os`: the operating system, family, architecture and kernel version;
/// with `verbose`, also the host name (empty when unknown) and the number of CPUs
/// available to the process (left out when it cannot be told).
pub fn get_os(ctx: &mut GetOsCtx<'_>, p: GetOsParams) -> Result<GetOsResult, CapError> {
    let facts = ctx.os_facts();
    let (hostname, cpus) = if p.verbose {
        let cpus = std::thread::available_parallelism()
            .ok()
            .map(|n| i64::try_from(n.get()).unwrap_or(i64::MAX));
        (Some(facts.hostname), cpus)
    } else {
        (None, None)
    };
    Ok(GetOsResult {
        os: facts.os.to_string(),
        family: facts.family.to_string(),
        arch: facts.arch.to_string(),
        version: facts.version,
        hostname,
        cpus,
    })
}

/// `sys.info.get_env_var`: reads an environment variable on the operator's allowlist.
///
/// A name off the allowlist is a denied-policy error (its value is never read). An unset
/// variable gives `default` (or no value) with `found` false.
pub fn get_env_var(
    ctx: &mut GetEnvVarCtx<'_>,
    p: GetEnvVarParams,
) -> Result<GetEnvVarResult, CapError> {
    Ok(match ctx.env_var(&p.name)? {
        Some(value) => GetEnvVarResult {
            value: Some(value),
            found: true,
        },
        None => GetEnvVarResult {
            value: p.default,
            found: false,
        },
    })
}

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
