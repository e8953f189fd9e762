//! Who makes a request to a team server: the operator (the server's own token, the
//! bootstrap admin) or one of the users, with what they may do and where they act.

use super::{OPERATOR, Role, User};
use std::path::PathBuf;

/// Who makes a request, as the server's access check found them. The HTTP listener
/// puts one in every authenticated request's extensions; each part of the server reads
/// it to pick the caller's lane and to decide what they may see and do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user name; [`OPERATOR`] for the server's own token.
    pub name: String,
    /// What they may do.
    pub role: Role,
    /// The workspace their calls act in; `None` for the server's own (the operator's).
    pub workspace: Option<PathBuf>,
    /// Their own policy file, which narrows the operator's; `None` for the operator's.
    pub policy: Option<PathBuf>,
}

impl Principal {
    /// The operator: an admin acting in the server's own workspace under its policy.
    pub fn operator() -> Principal {
        Principal {
            name: OPERATOR.to_string(),
            role: Role::Admin,
            workspace: None,
            policy: None,
        }
    }

    /// The principal a user of the user database is.
    pub fn user(user: &User) -> Principal {
        Principal {
            name: user.name.clone(),
            role: user.role,
            workspace: Some(user.workspace.clone()),
            policy: user.policy.clone(),
        }
    }

    /// True for the operator.
    pub fn is_operator(&self) -> bool {
        self.name == OPERATOR
    }

    /// True for an admin (the operator is one): every lane is theirs to see and act in.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// True when they may call capabilities and undo (agents and admins, not viewers).
    pub fn may_act(&self) -> bool {
        self.role >= Role::Agent
    }

    /// True when they may see what `owner` (a principal's name) did: their own, or
    /// anyone's for an admin.
    pub fn may_see(&self, owner: &str) -> bool {
        self.is_admin() || self.name == owner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_decide_what_one_may_do() {
        let op = Principal::operator();
        assert!(op.is_operator() && op.is_admin() && op.may_act() && op.may_see("ann"));
        let user = User {
            name: "ann".into(),
            role: Role::Viewer,
            workspace: PathBuf::from("/w/ann"),
            policy: None,
            created: String::new(),
            token_made: String::new(),
        };
        let ann = Principal::user(&user);
        assert!(!ann.is_operator() && !ann.is_admin() && !ann.may_act());
        assert!(ann.may_see("ann") && !ann.may_see("bob"));
        let agent = Principal {
            role: Role::Agent,
            ..ann
        };
        assert!(agent.may_act() && !agent.may_see("operator"));
    }
}
