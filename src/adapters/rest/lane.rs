//! Whose lane a REST request acts in: the caller's own (their workspace, journal, audit
//! log and policy), or, for an admin who names one with `?user=NAME`, another user's.
//!
//! The listener puts the caller's [`Principal`] in the request's extensions; the
//! [`Lane`] extractor asks the server's [`LaneSource`] for the lane, which refuses a
//! non-admin naming someone else (403 `denied_role`).

use super::{Api, ApiError};
use crate::powers::CapabilitySet;
use crate::users::{OPERATOR, Principal};
use axum::extract::{FromRef, FromRequestParts};
use http::StatusCode;
use http::request::Parts;
use std::sync::Arc;

/// Where the lanes come from (the team server's registry).
pub trait LaneSource<S: CapabilitySet>: Send + Sync {
    /// The lane of `user` (the caller's own when `None`) as `caller` may reach it: 403
    /// when a non-admin names another user, 404 when there is no such user. May open a
    /// workspace and its state: call it off the async workers.
    fn lane(&self, caller: &Principal, user: Option<&str>) -> Result<Api<S>, ApiError>;

    /// [`lane`](Self::lane) when it can be answered without opening anything or reading
    /// the users (the caller's own lane, already open); `None` otherwise. Safe to call on
    /// the async workers.
    fn open_lane(&self, caller: &Principal, user: Option<&str>) -> Option<Api<S>>;
}

/// The lanes, as the router's state holds them.
pub struct Lanes<S: CapabilitySet>(pub Arc<dyn LaneSource<S>>);

impl<S: CapabilitySet> Clone for Lanes<S> {
    fn clone(&self) -> Self {
        Lanes(self.0.clone())
    }
}

/// A request's caller and the lane it acts in.
pub struct Lane<S: CapabilitySet> {
    /// Who makes the request.
    pub caller: Principal,
    /// The API of the lane the request acts in.
    pub api: Api<S>,
}

/// The 403 of a role that may not do what was asked.
pub fn denied_role(message: impl Into<String>, hint: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "denied_role", message).with_hint(hint)
}

impl<S: CapabilitySet> Lane<S> {
    /// Whose operations and audit records the request sees and acts on: the lane's
    /// owner's (a workspace may be shared by several users), or everyone's in the
    /// workspace for an admin in their own lane (`None`).
    pub fn whose(&self) -> Option<String> {
        let owner = self.api.principal().unwrap_or(OPERATOR);
        if self.caller.is_admin() && owner == self.caller.name {
            None
        } else {
            Some(owner.to_string())
        }
    }

    /// Refuses a viewer: calling capabilities, undo and redo need an agent or an admin.
    pub fn act(&self) -> Result<(), ApiError> {
        if self.caller.may_act() {
            return Ok(());
        }
        Err(denied_role(
            format!(
                "`{}` is a {}: viewers may look but not call capabilities, undo or redo",
                self.caller.name, self.caller.role
            ),
            "ask an admin for the agent role (`airun user add NAME --role agent`)",
        ))
    }
}

/// The `user` query parameter of `query`, if any.
pub fn named_user(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned())
}

impl<S, St> FromRequestParts<St> for Lane<S>
where
    S: CapabilitySet,
    Lanes<S>: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let caller = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the request names no caller",
                )
            })?;
        let user = named_user(parts.uri.query());
        let lanes = Lanes::<S>::from_ref(state);
        // Most requests come in a lane already open: no hop to the blocking pool then.
        if let Some(api) = lanes.0.open_lane(&caller, user.as_deref()) {
            return Ok(Lane { caller, api });
        }
        let who = caller.clone();
        let api = super::blocking(move || lanes.0.lane(&who, user.as_deref())).await?;
        Ok(Lane { caller, api })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_user_parameter() {
        assert_eq!(named_user(Some("limit=3&user=ann")).as_deref(), Some("ann"));
        assert_eq!(named_user(Some("user=a%40b.c")).as_deref(), Some("a@b.c"));
        assert_eq!(named_user(Some("limit=3")), None);
        assert_eq!(named_user(None), None);
    }
}
