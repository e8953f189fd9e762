//! The trait a generated capability set implements, and the checks the powers make before
//! a call is confirmed.

use super::{Env, exec};
use crate::catalog::{CallInfo, Capability, Params, SideEffect};
use crate::error::CapError;
use crate::sandbox::Workspace;
use crate::settings::Settings;

/// A generated capability set: catalog, parser and dispatch over its handlers.
pub trait CapabilitySet: Send + Sync + 'static {
    /// The set's `Call` enum.
    type Call: CallInfo;
    /// Every capability in the set.
    fn catalog(&self) -> &'static [&'static Capability];
    /// Parses a call by dotted id or tool name.
    fn parse(&self, name: &str, args: serde_json::Value) -> Result<Self::Call, CapError>;
    /// Runs a parsed, checked call with the powers its spec declares.
    fn dispatch(&self, call: Self::Call, env: &Env<'_>) -> Result<serde_json::Value, CapError>;

    /// Refuses a call the operator's settings do not allow, after the permission stage and
    /// before the pipeline resolves its paths, asks for confirmation or takes
    /// before-images. The default runs [`precheck`]: the checks of every power the
    /// capability declares. A set may add its own per-capability checks.
    fn precheck(
        &self,
        call: &Self::Call,
        settings: &Settings,
        ws: &Workspace,
    ) -> Result<(), CapError> {
        precheck(call.capability(), call.params(), settings, ws)
    }
}

/// A power's check of a call before it is confirmed: the capability's params, the
/// operator's settings and the workspace.
pub type PrecheckFn = fn(&dyn Params, &Settings, &Workspace) -> Result<(), CapError>;

/// The check a power makes before a call that declares it is confirmed, if it makes one.
/// A power that refuses calls on the operator's settings adds its check here; every
/// capability declaring the power then gets it.
pub fn precheck_of(effect: SideEffect) -> Option<PrecheckFn> {
    match effect {
        SideEffect::SystemExec => {
            Some(|params, settings, ws| exec::precheck(&settings.exec, ws, &params.to_json()))
        }
        _ => None,
    }
}

/// Runs the checks of every power `cap` declares (see [`precheck_of`]), first refusal
/// first.
pub fn precheck(
    cap: &Capability,
    params: &dyn Params,
    settings: &Settings,
    ws: &Workspace,
) -> Result<(), CapError> {
    cap.side_effects
        .iter()
        .filter_map(|e| precheck_of(*e))
        .try_for_each(|check| check(params, settings, ws))
}

/// A shared set is a set: the server of a team builds one pipeline per user's lane over
/// one set.
impl<S: CapabilitySet> CapabilitySet for std::sync::Arc<S> {
    type Call = S::Call;

    fn catalog(&self) -> &'static [&'static Capability] {
        (**self).catalog()
    }

    fn parse(&self, name: &str, args: serde_json::Value) -> Result<Self::Call, CapError> {
        (**self).parse(name, args)
    }

    fn dispatch(&self, call: Self::Call, env: &Env<'_>) -> Result<serde_json::Value, CapError> {
        (**self).dispatch(call, env)
    }

    fn precheck(
        &self,
        call: &Self::Call,
        settings: &Settings,
        ws: &Workspace,
    ) -> Result<(), CapError> {
        (**self).precheck(call, settings, ws)
    }
}
