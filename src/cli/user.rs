//! `airun user add|list|remove` and `airun user token rotate`: the users of a team server.

use super::term::Grid;
use super::{Global, UserAction, UserTokenAction, home, render};
use crate::error::CapError;
use crate::users::{Role, User, UserStore};
use serde_json::json;
use std::process::ExitCode;

/// Runs one `airun user` action.
pub fn run(global: &Global, action: &UserAction) -> Result<ExitCode, CapError> {
    let store = UserStore::open(&home::airun_home())?;
    match action {
        UserAction::Add { name, role, json } => {
            let role = Role::parse(role)?;
            // The user's workspace and policy are the ones given on this command line.
            let given = |flag: &str| {
                std::env::args_os().any(|a| {
                    let a = a.to_string_lossy();
                    a == flag || a.starts_with(&format!("{flag}="))
                })
            };
            let workspace = global
                .workspace
                .first()
                .map(std::path::PathBuf::as_path)
                .filter(|_| given("--workspace"));
            let policy = global.policy.as_deref();
            if let Some(p) = policy {
                // The same checks as the operator's --policy: the file must read and parse.
                crate::policy::load(Some(p), &home::airun_home())?;
            }
            let (user, token) = store.add(name, role, workspace, policy)?;
            if *json {
                render::print_json(&json!({"user": user, "token": token.expose()}));
            } else {
                println!(
                    "added {} ({}), workspace {}",
                    user.name,
                    user.role,
                    user.workspace.display()
                );
                println!(
                    "token (shown once; airun keeps only its hash): {}",
                    token.expose()
                );
            }
        }
        UserAction::List { json } => {
            let users = store.list()?;
            if *json {
                render::print_json(&users);
            } else if users.is_empty() {
                println!("no users yet; `airun user add NAME --role agent` adds one");
            } else {
                print!("{}", table(&users));
            }
        }
        UserAction::Remove { name, json } => {
            let user = store.remove(name)?;
            if *json {
                render::print_json(&json!({"removed": user}));
            } else {
                println!(
                    "removed {}; their workspace {} and its history stay on disk",
                    user.name,
                    user.workspace.display()
                );
            }
        }
        UserAction::Token {
            action: UserTokenAction::Rotate { name, json },
        } => {
            let (user, token) = store.rotate(name)?;
            if *json {
                render::print_json(&json!({"user": user, "token": token.expose()}));
            } else {
                println!("new token for {} (the old one no longer works):", user.name);
                println!("{}", token.expose());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn table(users: &[User]) -> String {
    let mut t = Grid::new(["name", "role", "workspace", "policy", "added"], &[0, 1]);
    for u in users {
        t.row([
            u.name.clone(),
            u.role.to_string(),
            u.workspace.display().to_string(),
            u.policy
                .as_ref()
                .map_or("(the operator's)".to_string(), |p| p.display().to_string()),
            u.created.clone(),
        ]);
    }
    t.render()
}
