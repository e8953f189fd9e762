//! `$AIRUN_HOME/users.db`: the users, their roles, workspaces and policies, and the
//! hashes of their tokens (never the tokens).

use super::token::{self, Token};
use super::{Role, User, check_name};
use crate::error::{CapError, ErrorKind};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    workspace TEXT NOT NULL,
    policy TEXT,
    created TEXT NOT NULL,
    token_made TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE
);
"#;

/// The user database. Cheap to share (`&UserStore` is `Sync`).
#[derive(Debug)]
pub struct UserStore {
    conn: Mutex<Connection>,
    home: PathBuf,
}

/// What a new user gets when no workspace is given: `<home>/users/NAME/workspace`.
pub fn default_workspace(home: &Path, name: &str) -> PathBuf {
    home.join("users").join(name).join("workspace")
}

fn db_error(what: &str, e: impl std::fmt::Display) -> CapError {
    CapError::execution(format!("the user database could not {what}: {e}")).with_hint(
        "check that $AIRUN_HOME/users.db is readable and writable, and the disk not full",
    )
}

fn not_found(name: &str) -> CapError {
    CapError::new(ErrorKind::NotFound, format!("there is no user `{name}`"))
        .with_hint("`airun user list` shows the users")
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl UserStore {
    /// Opens (creating when missing) `<home>/users.db`, readable by its owner only.
    pub fn open(home: &Path) -> Result<UserStore, CapError> {
        std::fs::create_dir_all(home).map_err(|e| {
            CapError::execution(format!("cannot create {}: {e}", home.display()))
                .with_hint("set AIRUN_HOME to a folder you can write")
        })?;
        let path = home.join("users.db");
        let conn = Connection::open(&path).map_err(|e| db_error("be opened", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(Duration::from_secs(5))
            .and_then(|_| conn.pragma_update(None, "synchronous", "FULL"))
            .and_then(|_| conn.execute_batch(SCHEMA))
            .map_err(|e| db_error("be set up", e))?;
        Ok(UserStore {
            conn: Mutex::new(conn),
            home: home.to_path_buf(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `name` with `role`, acting in `workspace` (an existing folder; by default
    /// their own, created under `$AIRUN_HOME/users/`) under `policy` (a file the caller
    /// checked). Returns the user and their token, which is not kept.
    pub fn add(
        &self,
        name: &str,
        role: Role,
        workspace: Option<&Path>,
        policy: Option<&Path>,
    ) -> Result<(User, Token), CapError> {
        check_name(name)?;
        if self.get(name)?.is_some() {
            return Err(CapError::new(
                ErrorKind::AlreadyExists,
                format!("the user `{name}` already exists"),
            )
            .with_hint(format!(
                "pick another name, or `airun user token rotate {name}` for a new token"
            )));
        }
        let workspace = match workspace {
            Some(dir) => dir
                .canonicalize()
                .ok()
                .filter(|d| d.is_dir())
                .ok_or_else(|| {
                    CapError::new(
                        ErrorKind::InvalidInput,
                        format!("the workspace {} is not an existing folder", dir.display()),
                    )
                    .with_hint(
                        "create the folder first, or leave --workspace out for the user's own",
                    )
                })?,
            None => {
                let dir = default_workspace(&self.home, name);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    CapError::execution(format!("cannot create {}: {e}", dir.display()))
                })?;
                dir
            }
        };
        let policy = match policy {
            Some(p) => Some(p.canonicalize().map_err(|e| {
                CapError::new(
                    ErrorKind::InvalidInput,
                    format!("cannot read the policy file {}: {e}", p.display()),
                )
            })?),
            None => None,
        };
        let token = Token::generate()?;
        let at = now();
        let user = User {
            name: name.to_string(),
            role,
            workspace,
            policy,
            created: at.clone(),
            token_made: at,
        };
        self.conn()
            .execute(
                "INSERT INTO users (name, role, workspace, policy, created, token_made, token_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    user.name,
                    role.as_str(),
                    user.workspace.to_string_lossy(),
                    user.policy
                        .as_ref()
                        .map(|p| p.to_string_lossy().into_owned()),
                    user.created,
                    user.token_made,
                    token::hash(token.expose()),
                ],
            )
            .map_err(|e| db_error("add the user", e))?;
        Ok((user, token))
    }

    /// True when at least one user exists (one indexed row read, not the list).
    pub fn any(&self) -> Result<bool, CapError> {
        self.conn()
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM users)")
            .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
            .map_err(|e| db_error("be read", e))
    }

    /// Every user, by name.
    pub fn list(&self) -> Result<Vec<User>, CapError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT name, role, workspace, policy, created, token_made FROM users ORDER BY name",
            )
            .map_err(|e| db_error("be read", e))?;
        let rows = stmt
            .query_map([], row_user)
            .map_err(|e| db_error("be read", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_error("be read", e))
    }

    /// The user `name`, if there is one.
    pub fn get(&self, name: &str) -> Result<Option<User>, CapError> {
        self.conn()
            .query_row(
                "SELECT name, role, workspace, policy, created, token_made FROM users WHERE name = ?1",
                [name],
                row_user,
            )
            .optional()
            .map_err(|e| db_error("be read", e))
    }

    /// Removes `name` (their workspace and its history stay on disk).
    pub fn remove(&self, name: &str) -> Result<User, CapError> {
        let user = self.get(name)?.ok_or_else(|| not_found(name))?;
        self.conn()
            .execute("DELETE FROM users WHERE name = ?1", [name])
            .map_err(|e| db_error("remove the user", e))?;
        Ok(user)
    }

    /// Gives `name` a new token; the old one stops working at once.
    pub fn rotate(&self, name: &str) -> Result<(User, Token), CapError> {
        let token = Token::generate()?;
        let at = now();
        let changed = self
            .conn()
            .execute(
                "UPDATE users SET token_hash = ?1, token_made = ?2 WHERE name = ?3",
                params![token::hash(token.expose()), at, name],
            )
            .map_err(|e| db_error("store the new token", e))?;
        if changed == 0 {
            return Err(not_found(name));
        }
        let user = self.get(name)?.ok_or_else(|| not_found(name))?;
        Ok((user, token))
    }

    /// The user whose token is `token`, if any.
    pub fn authenticate(&self, token: &str) -> Result<Option<User>, CapError> {
        if !token.starts_with(token::PREFIX) {
            return Ok(None);
        }
        self.conn()
            .query_row(
                "SELECT name, role, workspace, policy, created, token_made FROM users WHERE token_hash = ?1",
                [token::hash(token)],
                row_user,
            )
            .optional()
            .map_err(|e| db_error("be read", e))
    }
}

fn row_user(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(1)?;
    let role = Role::parse(&role).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, e.message.into())
    })?;
    Ok(User {
        name: row.get(0)?,
        role,
        workspace: PathBuf::from(row.get::<_, String>(2)?),
        policy: row.get::<_, Option<String>>(3)?.map(PathBuf::from),
        created: row.get(4)?,
        token_made: row.get(5)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_list_rotate_remove_and_authenticate() {
        let home = tempfile::tempdir().unwrap();
        let store = UserStore::open(home.path()).unwrap();
        assert!(!store.any().unwrap());
        let (alice, token) = store.add("alice", Role::Agent, None, None).unwrap();
        assert!(store.any().unwrap());
        assert_eq!(alice.workspace, default_workspace(home.path(), "alice"));
        assert!(alice.workspace.is_dir());
        assert_eq!(
            store.authenticate(token.expose()).unwrap(),
            Some(alice.clone())
        );
        assert_eq!(store.authenticate("airun_nope").unwrap(), None);
        assert_eq!(store.authenticate("").unwrap(), None);
        let dup = store.add("alice", Role::Admin, None, None).unwrap_err();
        assert_eq!(dup.kind, ErrorKind::AlreadyExists);
        let (_, new) = store.rotate("alice").unwrap();
        assert_eq!(store.authenticate(token.expose()).unwrap(), None);
        assert!(store.authenticate(new.expose()).unwrap().is_some());
        assert_eq!(store.list().unwrap().len(), 1);
        store.remove("alice").unwrap();
        assert!(!store.any().unwrap());
        assert_eq!(store.authenticate(new.expose()).unwrap(), None);
        assert_eq!(store.remove("alice").unwrap_err().kind, ErrorKind::NotFound);
        assert_eq!(store.rotate("alice").unwrap_err().kind, ErrorKind::NotFound);
        // The database never holds a token in the clear.
        let raw = std::fs::read(home.path().join("users.db")).unwrap();
        let needle = new.expose().as_bytes();
        assert!(!raw.windows(needle.len()).any(|w| w == needle));
    }
}
