//! From a verified token's claims to an airun user and role, by the `[oauth]` rules.

use crate::settings::OAuthPolicy;
use crate::users::{Role, check_name};
use serde_json::{Map, Value};

/// Who a verified token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The airun user name (the policy's `name_claim`).
    pub name: String,
    /// The token's `sub`.
    pub subject: String,
    /// The role the rules give.
    pub role: Role,
}

/// True when `claim` is `value`, or is a list that holds it.
fn holds(claim: Option<&Value>, value: &str) -> bool {
    match claim {
        Some(Value::String(s)) => s == value,
        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(value)),
        Some(Value::Bool(b)) => b.to_string() == value,
        Some(Value::Number(n)) => n.to_string() == value,
        _ => false,
    }
}

/// The identity `claims` name under `policy`, or why none.
pub fn identity(policy: &OAuthPolicy, claims: &Map<String, Value>) -> Result<Identity, String> {
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or("the token has no `sub` claim")?
        .to_string();
    let name = claims
        .get(&policy.name_claim)
        .and_then(Value::as_str)
        .ok_or_else(|| {
            format!(
                "the token has no `{}` claim to name the user",
                policy.name_claim
            )
        })?
        .to_ascii_lowercase();
    check_name(&name).map_err(|e| {
        format!(
            "the token's `{}` ({name}) is not an airun user name: {}",
            policy.name_claim, e.message
        )
    })?;
    let from_rules = policy
        .roles
        .iter()
        .filter(|r| holds(claims.get(&r.claim), &r.value))
        .filter_map(|r| Role::parse(&r.role).ok())
        .max();
    let role = match from_rules {
        Some(role) => role,
        None if policy.default_role.is_empty() => {
            return Err(format!(
                "no [[oauth.roles]] rule gives `{name}` a role, and the policy has no oauth.default_role"
            ));
        }
        None => Role::parse(&policy.default_role).map_err(|e| e.message)?,
    };
    Ok(Identity {
        name,
        subject,
        role,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::RoleRule;
    use serde_json::json;

    fn rule(claim: &str, value: &str, role: &str) -> RoleRule {
        RoleRule {
            claim: claim.into(),
            value: value.into(),
            role: role.into(),
        }
    }

    #[test]
    fn rules_give_the_highest_role_and_names_are_checked() {
        let mut p = OAuthPolicy {
            name_claim: "email".into(),
            roles: vec![
                rule("groups", "devs", "agent"),
                rule("groups", "ops", "admin"),
                rule("email", "guest@example.com", "viewer"),
            ],
            ..OAuthPolicy::default()
        };
        let claims = |v: Value| v.as_object().unwrap().clone();
        let id = identity(
            &p,
            &claims(json!({"sub": "1", "email": "Ann@Example.com", "groups": ["devs", "ops"]})),
        )
        .unwrap();
        assert_eq!(
            (id.name.as_str(), id.role),
            ("ann@example.com", Role::Admin)
        );
        let none = identity(&p, &claims(json!({"sub": "2", "email": "x@example.com"})));
        assert!(none.unwrap_err().contains("no [[oauth.roles]] rule"));
        p.default_role = "viewer".into();
        let id = identity(&p, &claims(json!({"sub": "2", "email": "x@example.com"}))).unwrap();
        assert_eq!(id.role, Role::Viewer);
        let bad = identity(&p, &claims(json!({"sub": "3", "email": "a b@example.com"})));
        assert!(bad.unwrap_err().contains("not an airun user name"));
        let missing = identity(&p, &claims(json!({"sub": "4"})));
        assert!(missing.unwrap_err().contains("no `email` claim"));
    }
}
