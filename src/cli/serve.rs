//! `airun serve`: MCP over stdio (`--mcp`), or over Streamable HTTP with the REST API
//! (`--port N`).
//!
//! Only JSON-RPC goes to stdout; logs go to stderr (`--log-level`).

use crate::adapters::mcp::Seals;
use crate::adapters::mcp::http::MCP_PATH;
use crate::adapters::mcp::{McpServer, ServerOptions};
use crate::adapters::rest::{API_PREFIX, Api};
use crate::cli::Global;
use crate::error::{CapError, ErrorKind};
use crate::events::{DEFAULT_RING, EventBus};
use crate::pipeline::Broker;
use crate::powers::CapabilitySet;
use crate::server::access::Team;
use crate::server::app::{AppOptions, TeamOptions, team_router};
use crate::server::lanes::Maker;
use crate::server::oauth::OAuth;
use crate::server::session::Sessions;
use crate::server::{HttpOptions, HttpServer, check_options};
use crate::users::UserStore;
use clap::{ArgGroup, Args, ValueEnum};
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Options of `airun serve`.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("transport").required(true).args(["mcp", "port"])))]
pub struct ServeArgs {
    /// Serve MCP over standard input and output (for Claude Desktop, Claude Code, Cursor).
    #[arg(long)]
    pub mcp: bool,
    /// Serve MCP over Streamable HTTP at http://HOST:PORT/mcp and the REST API at
    /// http://HOST:PORT/api/v1 (0 picks a free port; the addresses are printed on stderr).
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,
    /// Address to bind for HTTP. Anything but loopback requires a token.
    #[arg(long, value_name = "HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Bearer token HTTP clients must send (`Authorization: Bearer T`). The REST API always
    /// needs one: without this, a random token is made and printed once at start.
    #[arg(long, value_name = "T", env = "AIRUN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Approve, as the operator, every call that needs confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// A secret (at least 32 characters) every instance behind one load balancer shares,
    /// so each accepts the confirmation states another issued. Instances on one host
    /// also share AIRUN_HOME. Without it, a random per-process key.
    #[arg(
        long,
        value_name = "KEY",
        env = "AIRUN_SEAL_KEY",
        hide_env_values = true
    )]
    pub seal_key: Option<String>,
    /// Read the shared seal key from this file instead (its content, trimmed).
    #[arg(long, value_name = "FILE", conflicts_with = "seal_key")]
    pub seal_key_file: Option<std::path::PathBuf>,
    /// How much to log on stderr (`info` adds one line per tool call).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = LogLevel::Warn)]
    pub log_level: LogLevel,
}

/// Log levels for `--log-level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// No logs.
    Off,
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// Informational messages.
    Info,
    /// Debugging detail.
    Debug,
    /// Everything.
    Trace,
}

/// Logs to stderr at `level`, and, when the environment asks for them, exports the
/// pipeline's traces (see [`telemetry`](super::telemetry)). Call inside the runtime.
fn init_logging(level: LogLevel) -> Result<Option<SdkTracerProvider>, CapError> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = match level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    };
    if !super::telemetry::wanted() {
        // Logs alone: the plain subscriber (no per-layer filters to set up).
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_max_level(filter)
            .try_init();
        return Ok(None);
    }
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter);
    let (provider, traces) = super::telemetry::start()?;
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Some(provider))
}

/// Cancels `token` on SIGINT or SIGTERM.
async fn on_signal(token: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                let _ = tokio::signal::ctrl_c().await;
                token.cancel();
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("signal received");
    token.cancel();
}

/// The shared seal key (`--seal-key`, `AIRUN_SEAL_KEY`, `--seal-key-file`), if given.
fn shared_secret(args: &ServeArgs) -> Result<Option<String>, CapError> {
    let given = match (&args.seal_key, &args.seal_key_file) {
        (Some(k), _) => Some(k.trim().to_string()),
        (None, Some(file)) => Some(
            std::fs::read_to_string(file)
                .map_err(|e| {
                    CapError::new(
                        ErrorKind::InvalidInput,
                        format!("cannot read the seal key file {}: {e}", file.display()),
                    )
                })?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    match given {
        Some(secret) if secret.len() < 32 => Err(CapError::new(
            ErrorKind::InvalidInput,
            format!(
                "the seal key has {} characters; it needs at least 32",
                secret.len()
            ),
        )
        .with_hint("make one with `openssl rand -hex 32` and give every instance the same")),
        other => Ok(other),
    }
}

/// A key of its own for one use (`label`), derived from the shared secret.
fn derive(secret: &str, label: &[u8]) -> Vec<u8> {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(label);
    mac.finalize().into_bytes().to_vec()
}

/// The confirmation-state sealer and the browsers' sessions: under keys derived from
/// the shared secret (marks under `$AIRUN_HOME/seals`, which the instances of one host
/// share), or this process's own.
fn shared_state(secret: Option<&str>) -> Result<(Option<Seals>, Sessions), CapError> {
    let Some(secret) = secret else {
        // The server makes its own key when a confirmation first needs one.
        return Ok((None, Sessions::default()));
    };
    let dir = super::home::airun_home().join("seals");
    let seals = Seals::shared(
        &derive(secret, b"airun requestState v1"),
        dir.join("redeemed"),
    )?;
    let sessions = Sessions::sealed(
        derive(secret, b"airun console session v1"),
        dir.join("logged-out"),
    )
    .map_err(|e| CapError::execution(format!("cannot create {}: {e}", dir.display())))?;
    Ok((Some(seals), sessions))
}

/// Each lane's confirmation-state sealer: under a key derived from the shared secret and
/// the principal's name (so a state one lane issued is refused in every other), or, with
/// no shared secret, one of the lane's own.
fn lane_seals(secret: Option<String>) -> Box<crate::server::lanes::MakeSeals> {
    Box::new(move |name: &str| {
        let Some(secret) = &secret else {
            return Ok(None);
        };
        let dir = super::home::airun_home().join("seals");
        let label = format!("airun requestState v1 lane {name}");
        Seals::shared(&derive(secret, label.as_bytes()), dir.join("redeemed")).map(Some)
    })
}

/// The users and identity provider of a team server, and how their lanes are made.
fn team<S: CapabilitySet + Clone>(
    set: S,
    settings: &crate::settings::Settings,
    secret: Option<String>,
) -> Result<TeamOptions<S>, CapError> {
    let home = super::home::airun_home();
    let users = Arc::new(UserStore::open(&home)?);
    let oauth = if settings.oauth.enabled() {
        Some(Arc::new(OAuth::new(&settings.oauth).map_err(|why| {
            CapError::new(
                ErrorKind::InvalidInput,
                format!("the policy's [oauth]: {why}"),
            )
            .with_hint("set oauth.issuer, oauth.audience and oauth.jwks_url (README: Team server)")
        })?))
    } else {
        None
    };
    Ok(TeamOptions {
        access: Team {
            users: Some(users.clone()),
            oauth,
            home: home.clone(),
        },
        maker: Maker {
            pipeline: Box::new(move |ws, settings| {
                crate::pipeline::Pipeline::new(set.clone(), ws, settings)
            }),
            seals: lane_seals(secret),
            home,
            users: Some(users),
        },
    })
}

/// A random 256-bit operator token, in hex.
fn new_token() -> Result<String, CapError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        CapError::execution(format!("cannot make an operator token: {e}"))
            .with_hint("pass one with --token T or set AIRUN_TOKEN")
    })?;
    Ok(hex::encode(bytes))
}

/// Runs `airun serve`.
pub fn run<S: CapabilitySet>(
    set: S,
    global: &Global,
    args: &ServeArgs,
) -> Result<ExitCode, CapError> {
    let http = args.port.map(|port| HttpOptions {
        host: args.host.clone(),
        port,
        token: args.token.clone(),
    });
    if let Some(o) = &http {
        check_options(o).map_err(|why| {
            CapError::new(ErrorKind::InvalidInput, why).with_hint(
                "keep the default --host 127.0.0.1, or pass --token (or set AIRUN_TOKEN)",
            )
        })?;
    }
    // One client on stdio needs no worker threads (calls still run on the blocking pool);
    // HTTP serves many clients at once.
    let mut builder = if http.is_some() {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder
        .enable_all()
        .build()
        .map_err(|e| CapError::execution(format!("cannot start the async runtime: {e}")))?;
    let traces = {
        let _inside = runtime.enter();
        init_logging(args.log_level)?
    };
    // One set for every lane of a team server.
    let set = Arc::new(set);
    let (pipeline, state) = super::pipeline_deferred_and_state(set.clone(), global)?;
    tracing::info!(workspace = %pipeline.workspace().root().display(), tools = pipeline.capabilities().len(), "airun MCP server");
    // Over HTTP, every call's stages go out on the events bus (`GET /api/v1/events`), and a
    // call that needs a yes the client cannot give waits in the broker for the console.
    let console = http.is_some().then(|| {
        let bus = Arc::new(EventBus::new(DEFAULT_RING));
        let broker =
            Arc::new(Broker::for_policy(&pipeline.settings().confirm).with_events(bus.clone()));
        (bus, broker)
    });
    let pipeline = match &console {
        Some((bus, _)) => pipeline.with_events(bus.clone()),
        None => pipeline,
    };
    let secret = shared_secret(args)?;
    let (seals, browsers) = shared_state(secret.as_deref())?;
    let team = match &http {
        Some(_) => Some(team(set, pipeline.settings(), secret)?),
        None => None,
    };
    let options = ServerOptions { yes: args.yes };
    let server = match seals {
        Some(seals) => McpServer::with_seals(pipeline, options, seals),
        None => McpServer::new(pipeline, options),
    };
    let server = match &console {
        Some((_, broker)) => server.with_console(broker.clone()),
        None => server,
    };
    let api_token = match &args.token {
        Some(t) => (t.clone(), false),
        None => (new_token()?, true),
    };
    let kept = server.clone();
    let shutdown = CancellationToken::new();
    let result = runtime.block_on(async {
        tokio::spawn(on_signal(shutdown.clone()));
        match http {
            Some(options) => {
                let listener = HttpServer::bind(&options).await?;
                eprintln!("airun: serving MCP at {}", listener.url(MCP_PATH));
                let (token, made) = api_token;
                eprintln!("airun: REST API at {}", listener.url(API_PREFIX));
                eprintln!(
                    "airun: console at {} (log in with the operator token or a user's)",
                    listener.url("/")
                );
                if made {
                    eprintln!("airun: operator token (made for this run; pass --token or set AIRUN_TOKEN to choose one): {token}");
                    eprintln!(
                        "airun: try: curl -H 'Authorization: Bearer {token}' {}",
                        listener.url(&format!("{API_PREFIX}/capabilities"))
                    );
                }
                if let Some(t) = &team {
                    let users = t.access.users.as_ref().and_then(|u| u.list().ok());
                    let users = users.map_or(0, |u| u.len());
                    if users > 0 {
                        eprintln!(
                            "airun: team server: {users} user(s) (`airun user list`), each in their own lane; /mcp needs a token"
                        );
                    }
                    if let Some(o) = &t.access.oauth {
                        eprintln!(
                            "airun: accepting access tokens of {} (metadata at {})",
                            o.verifier().policy().issuer,
                            o.metadata_url()
                        );
                    }
                }
                let sessions = CancellationToken::new();
                let api = Api::new(server.clone(), state, args.yes);
                // Open the state (and run recovery) now, so /readyz turns ready without
                // waiting for a first client.
                server.pipeline().journal().open_in_background();
                let app = team_router(
                    server,
                    api,
                    AppOptions {
                        bound_host: options.host.clone(),
                        mcp_token: options.token.clone(),
                        api_token: token,
                        sessions: sessions.clone(),
                        console: console.expect("made for HTTP"),
                        browsers,
                    },
                    team,
                );
                listener.serve(app, shutdown, sessions).await
            }
            None => {
                if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                    eprintln!(
                        "airun: waiting for an MCP client on standard input (JSON-RPC, one message \
                         a line). AI clients start this command themselves: add \
                         {{\"command\": \"airun\", \"args\": [\"serve\", \"--mcp\"]}} to their MCP \
                         servers (docs/clients.md). Ctrl-D or Ctrl-C ends it."
                    );
                }
                server.serve_stdio(shutdown).await
            }
        }
    });
    // The spans still batched go out before the runtime stops (from a blocking thread,
    // so a one-thread runtime keeps running the exporter meanwhile).
    if let Some(provider) = traces {
        let _ = runtime.block_on(tokio::task::spawn_blocking(move || provider.shutdown()));
    }
    // A pending read on stdin cannot be cancelled; do not wait for it.
    runtime.shutdown_timeout(Duration::from_millis(200));
    // Calls still running hold the pipeline; the records of those that ended are written.
    kept.pipeline().flush_audit();
    result
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| CapError::execution(format!("serve failed: {e}")))
}
