//! System-facts power: the operating system, allowed environment variables, the clock.

use super::{Ctx, SysRead};
use crate::error::{CapError, ErrorKind};

/// Facts about the host operating system.
#[derive(Debug, Clone)]
pub struct OsFacts {
    /// `linux`, `macos`, `windows`, ...
    pub os: &'static str,
    /// `unix` or `windows`.
    pub family: &'static str,
    /// `x86_64`, `aarch64`, ...
    pub arch: &'static str,
    /// Kernel release, e.g. `6.1.0-18-amd64` (empty when unknown).
    pub version: String,
    /// Host name (empty when unknown).
    pub hostname: String,
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

impl<P> Ctx<'_, P> {
    /// Facts about the operating system.
    pub fn os_facts(&self) -> OsFacts
    where
        P: SysRead,
    {
        OsFacts {
            os: std::env::consts::OS,
            family: std::env::consts::FAMILY,
            arch: std::env::consts::ARCH,
            version: read_trimmed("/proc/sys/kernel/osrelease"),
            hostname: read_trimmed("/proc/sys/kernel/hostname"),
        }
    }

    /// Reads an environment variable that the operator allows; other names are a
    /// permission error that lists the allowed ones.
    pub fn env_var(&self, name: &str) -> Result<Option<String>, CapError>
    where
        P: SysRead,
    {
        let allowed = &self.env.settings.env.allow;
        if !allowed.iter().any(|a| a == name) {
            return Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!("the environment variable `{name}` is not on the allowlist"),
            )
            .with_field("name")
            .with_hint(format!("allowed names: {}", allowed.join(", "))));
        }
        Ok(std::env::var(name).ok())
    }

    /// The current time.
    pub fn now(&self) -> jiff::Timestamp
    where
        P: SysRead,
    {
        jiff::Timestamp::now()
    }
}
