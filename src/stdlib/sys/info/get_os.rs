//! `sys.info.get_os`.

use crate::error::CapError;
use crate::stdlib::generated::sys::info::{GetOsCtx, GetOsParams, GetOsResult};

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
