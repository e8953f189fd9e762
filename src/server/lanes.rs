//! The lanes of a team server: for each principal, their own workspace, settings (the
//! operator's narrowed by their policy), journal and audit log, MCP server and REST API.
//!
//! A lane is made when its principal first calls and kept for the server's life (made
//! again should their workspace or policy change). Lanes acting in one workspace share
//! its one time machine, the operator's included when a user is given the server's
//! workspace. Each lane has its own MCP session manager, so a session id of one lane is
//! unknown in every other. The events bus and the confirmations broker are the server's.

use crate::adapters::mcp::http::{McpService, service};
use crate::adapters::mcp::{McpServer, Seals};
use crate::adapters::rest::lane::{LaneSource, denied_role};
use crate::adapters::rest::{Api, ApiError};
use crate::error::{CapError, ErrorKind};
use crate::events::EventBus;
use crate::pipeline::{Broker, Pipeline};
use crate::powers::CapabilitySet;
use crate::sandbox::Workspace;
use crate::settings::Settings;
use crate::timemachine::Deferred;
use crate::users::store::default_workspace;
use crate::users::{OPERATOR, Principal, UserStore};
use http::StatusCode;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Makes a lane's pipeline over the server's capability set.
pub type MakePipeline<S> = dyn Fn(Workspace, Settings) -> Pipeline<S> + Send + Sync;

/// Makes the confirmation-state sealer of the lane of the principal named by its
/// argument (`None`: the lane makes its own key).
pub type MakeSeals = dyn Fn(&str) -> Result<Option<Seals>, CapError> + Send + Sync;

/// What the registry needs to make lanes for users.
pub struct Maker<S: CapabilitySet> {
    /// A pipeline over the server's set.
    pub pipeline: Box<MakePipeline<S>>,
    /// Each lane's sealer.
    pub seals: Box<MakeSeals>,
    /// `$AIRUN_HOME`: where the time machines and the users' own workspaces live.
    pub home: PathBuf,
    /// The user database (to find the user an admin names).
    pub users: Option<Arc<UserStore>>,
}

/// One principal's lane.
pub struct Lane<S: CapabilitySet> {
    /// Whose lane.
    pub name: String,
    workspace: Option<PathBuf>,
    policy: Option<PathBuf>,
    /// The REST API over the lane's pipeline.
    pub api: Api<S>,
    /// The lane's `/mcp` service.
    pub mcp: McpService<S>,
}

/// The lanes of one listener.
pub struct Registry<S: CapabilitySet> {
    operator: Arc<Lane<S>>,
    maker: Option<Maker<S>>,
    lanes: Mutex<HashMap<String, Arc<Lane<S>>>>,
    states: Mutex<HashMap<PathBuf, Arc<Deferred>>>,
    bound_host: String,
    sessions: CancellationToken,
    console: (Arc<EventBus>, Arc<Broker>),
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Reads a user's policy file (outside their workspace) and narrows `operator` by it.
fn narrowed(
    operator: &Settings,
    policy: &Path,
    ws: &Workspace,
    home: &Path,
    catalog: &[&'static crate::catalog::Capability],
) -> Result<Settings, CapError> {
    if policy
        .canonicalize()
        .is_ok_and(|real| real.starts_with(ws.root()))
    {
        return Err(CapError::new(
            ErrorKind::DeniedPolicy,
            format!(
                "the user's policy file {} is inside their workspace, where they could change it",
                policy.display()
            ),
        )
        .with_hint("move the policy file outside the workspace and `airun user add` again"));
    }
    let user = crate::policy::load(Some(policy), home)?.settings;
    Ok(operator.narrowed_by(&user, catalog))
}

impl<S: CapabilitySet> Registry<S> {
    /// The lanes of a listener whose operator acts through `server` and `api`; without a
    /// `maker`, no other lane can be made (a server without users).
    pub fn new(
        server: McpServer<S>,
        api: Api<S>,
        maker: Option<Maker<S>>,
        bound_host: &str,
        sessions: CancellationToken,
        console: (Arc<EventBus>, Arc<Broker>),
    ) -> Registry<S> {
        let root = server.pipeline().workspace().root().to_path_buf();
        let states = HashMap::from([(root, api.deferred().clone())]);
        let operator = Arc::new(Lane {
            name: OPERATOR.into(),
            workspace: None,
            policy: None,
            mcp: service(server, bound_host, sessions.clone()),
            api,
        });
        Registry {
            operator,
            maker,
            lanes: Mutex::default(),
            states: Mutex::new(states),
            bound_host: bound_host.to_string(),
            sessions,
            console,
        }
    }

    /// The operator's lane.
    pub fn operator(&self) -> &Arc<Lane<S>> {
        &self.operator
    }

    /// The lane of `who` if it is open (the operator's always is), without blocking.
    pub fn open_lane_of(&self, who: &Principal) -> Option<Arc<Lane<S>>> {
        if who.is_operator() {
            return Some(self.operator.clone());
        }
        lock(&self.lanes)
            .get(&who.name)
            .filter(|lane| lane.workspace == who.workspace && lane.policy == who.policy)
            .cloned()
    }

    /// The lane of `who`, made now when it is their first request. Blocking (it may open
    /// a workspace and its state).
    pub fn lane_of(&self, who: &Principal) -> Result<Arc<Lane<S>>, CapError> {
        if let Some(lane) = self.open_lane_of(who) {
            return Ok(lane);
        }
        let lane = Arc::new(self.make(who)?);
        let mut lanes = lock(&self.lanes);
        // Another request may have made it meanwhile: keep the first.
        match lanes.get(&who.name) {
            Some(l) if l.workspace == who.workspace && l.policy == who.policy => Ok(l.clone()),
            _ => {
                lanes.insert(who.name.clone(), lane.clone());
                Ok(lane)
            }
        }
    }

    fn make(&self, who: &Principal) -> Result<Lane<S>, CapError> {
        let Some(maker) = &self.maker else {
            return Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!("this server has no lane for `{}`", who.name),
            ));
        };
        let operator = self.operator.api.pipeline();
        let own = default_workspace(&maker.home, &who.name);
        let root = who
            .workspace
            .clone()
            .unwrap_or_else(|| operator.workspace().root().to_path_buf());
        let ws = Workspace::open(&root, root == own, Some(&maker.home))?;
        if ws.protected().state().is_some() {
            return Err(CapError::new(
                ErrorKind::DeniedPolicy,
                format!(
                    "the workspace of `{}` ({}) holds airun's own state ($AIRUN_HOME)",
                    who.name,
                    ws.root().display()
                ),
            )
            .with_hint("give the user a workspace outside $AIRUN_HOME's folder"));
        }
        let settings = match &who.policy {
            Some(policy) => narrowed(
                operator.settings(),
                policy,
                &ws,
                &maker.home,
                operator.all_capabilities(),
            )?,
            None => operator.settings().clone(),
        };
        let state = {
            let mut states = lock(&self.states);
            match states.get(ws.root()) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(Deferred::new(
                        maker.home.clone(),
                        &ws,
                        operator.settings().retention,
                    )?);
                    states.insert(ws.root().to_path_buf(), s.clone());
                    s
                }
            }
        };
        let (bus, broker) = &self.console;
        let pipeline = (maker.pipeline)(ws, settings)
            .with_journal(Box::new(state.clone()))
            .with_audit(Box::new(state.clone()))
            .with_events(bus.clone());
        let options = self.operator.api.server().options();
        let server = match (maker.seals)(&who.name)? {
            Some(seals) => McpServer::with_seals(pipeline, options, seals),
            None => McpServer::new(pipeline, options),
        }
        .with_console(broker.clone())
        .with_principal(&who.name);
        let api = Api::new(server.clone(), state, self.operator.api.yes());
        Ok(Lane {
            name: who.name.clone(),
            workspace: who.workspace.clone(),
            policy: who.policy.clone(),
            mcp: service(server, &self.bound_host, self.sessions.clone()),
            api,
        })
    }

    /// The principal `name` names, for an admin who asks for their lane.
    fn named(&self, name: &str) -> Result<Principal, ApiError> {
        if name == OPERATOR {
            return Ok(Principal::operator());
        }
        let found = match self.maker.as_ref().and_then(|m| m.users.as_ref()) {
            Some(users) => users.get(name)?,
            None => None,
        };
        if let Some(user) = found {
            return Ok(Principal::user(&user));
        }
        // An identity provider's user without a record has a lane once they called.
        if let Some(lane) = lock(&self.lanes).get(name) {
            return Ok(Principal {
                name: lane.name.clone(),
                role: crate::users::Role::Agent,
                workspace: lane.workspace.clone(),
                policy: lane.policy.clone(),
            });
        }
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("there is no user `{name}`"),
        )
        .with_hint("`airun user list` shows the users"))
    }
}

impl<S: CapabilitySet> LaneSource<S> for Registry<S> {
    fn lane(&self, caller: &Principal, user: Option<&str>) -> Result<Api<S>, ApiError> {
        let target = match user {
            None => caller.clone(),
            Some(name) if name == caller.name => caller.clone(),
            Some(name) if !caller.is_admin() => {
                return Err(denied_role(
                    format!(
                        "`{}` is a {} and may act only in their own lane, not in `{name}`'s",
                        caller.name, caller.role
                    ),
                    "leave out `user`; only admins may name another user",
                ));
            }
            Some(name) => self.named(name)?,
        };
        let lane = self.lane_of(&target).map_err(|e| {
            let mut err = ApiError::from(e);
            if err.status.is_server_error() {
                err.status = StatusCode::SERVICE_UNAVAILABLE;
            }
            err
        })?;
        Ok(lane.api.clone())
    }

    fn open_lane(&self, caller: &Principal, user: Option<&str>) -> Option<Api<S>> {
        if user.is_some_and(|name| name != caller.name) {
            return None;
        }
        self.open_lane_of(caller).map(|lane| lane.api.clone())
    }
}
