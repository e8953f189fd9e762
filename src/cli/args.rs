//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// airun: typed, sandboxed, auditable tools for AI models and people.
#[derive(Debug, Parser)]
#[command(
    name = "airun",
    version,
    about,
    long_about = None,
    after_help = "Examples:\n  airun list\n  airun execute io.fs.read_file --params '{\"path\":\"notes.txt\"}'\n  airun serve --mcp\n  airun history\n  airun undo\n\nExit codes: 0 ok, 1 execution error, 2 invalid input, 3 denied, 4 declined."
)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// A workspace folder capabilities act in [default: ~/.ai-first/workspaces/$USER/default].
    /// Give it several times (or `:`-separated, as PATH) for several roots; `DIR:ro` makes
    /// one read-only. Relative paths are in the first; the others are reached by absolute path
    #[arg(
        long,
        global = true,
        env = "AIRUN_WORKSPACE",
        hide_env_values = true,
        value_name = "DIR[:ro]"
    )]
    pub workspace: Vec<PathBuf>,
    /// Refuse, and hide, every capability that changes state.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// The operator's policy file [default: $AIRUN_HOME/policy.toml; a missing default file means the built-in defaults]
    #[arg(long, global = true, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Let tables be as wide as their content instead of fitting the terminal.
    #[arg(long, global = true)]
    pub wide: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the capabilities.
    #[command(
        after_help = "Examples:\n  airun list                    the capabilities this policy allows, as a table\n  airun list --wide             every column, as wide as it needs\n  airun list --json             for scripts\n  airun list --markdown         the README's table"
    )]
    List {
        /// Print JSON.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
    /// Show one capability: its inputs, outputs and contracts.
    #[command(
        after_help = "Examples:\n  airun inspect io.fs.write_file\n  airun inspect io_fs_read_file --json     with the MCP and OpenAI schemas"
    )]
    Inspect {
        /// Dotted id or tool name.
        id: String,
        /// Print JSON (with the MCP and OpenAI schemas).
        #[arg(long)]
        json: bool,
    },
    /// Run one capability.
    #[command(
        after_help = "Examples:\n  airun execute io.fs.read_file --params '{\"path\":\"notes.txt\"}'\n  airun execute io.fs.write_file --params '{\"path\":\"notes.txt\",\"content\":\"hi\"}' --yes\n  echo '{\"path\":\".\"}' | airun execute io.fs.list_dir --params -\n  airun execute io_fs_stat --params '{\"path\":\"notes.txt\"}' --json"
    )]
    Execute {
        /// Dotted id or tool name.
        id: String,
        /// Arguments as a JSON object; `-` reads them from standard input.
        #[arg(long, default_value = "{}", value_name = "JSON")]
        params: String,
        /// Approve the call if it needs confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print a JSON envelope: {"status", "capability", "result" | "error", "duration_ms"}.
        #[arg(long)]
        json: bool,
    },
    /// Serve the capabilities to AI clients over MCP: `--mcp` (stdio) or `--port N` (HTTP).
    #[command(
        after_help = "Examples:\n  airun serve --mcp                          an AI client starts this (stdio)\n  airun serve --port 8080                    http://127.0.0.1:8080/mcp\n  AIRUN_TOKEN=secret airun serve --port 8080 --host 0.0.0.0\n  airun --workspace ~/project serve --mcp --log-level info"
    )]
    Serve(super::serve::ServeArgs),
    /// OpenAI function calling: print the strict tool list, or run a model's tool calls.
    #[command(
        after_help = "Examples:\n  airun openai tools > tools.json                 the strict tool list for Chat Completions\n  airun openai tools --api responses\n  airun openai call < tool_calls.json             run a model's tool calls, print the outputs"
    )]
    Openai(super::openai::OpenaiArgs),
    /// Undo the newest operations (refuses where a file changed since, unless --force).
    #[command(
        after_help = "Examples:\n  airun undo                    the newest operation\n  airun undo --steps 3          the three newest\n  airun undo --to 12            operation 12 and everything after it\n  airun undo --force            even where a file changed since (that change is lost)\n  airun undo --session 3f9a0c2e71   everything one agent session did, newest first\n  airun undo --user alice       alice's newest operation (others' later ones stay)"
    )]
    Undo {
        /// How many operations to undo.
        #[arg(long, default_value_t = 1, conflicts_with_all = ["to", "session"])]
        steps: usize,
        /// Undo every operation from this one on.
        #[arg(long, value_name = "OP")]
        to: Option<i64>,
        /// Undo every operation this agent session did that is not undone yet, newest
        /// first (`airun history --sessions` lists the sessions).
        #[arg(long, value_name = "S")]
        session: Option<String>,
        /// Only this user's operations (`operator` for the operator's), newest first
        /// among theirs; everyone else's operations stay as they are.
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Restore even where a file changed after the operation.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-apply undone operations.
    #[command(
        after_help = "Examples:\n  airun redo\n  airun redo --steps 2\n  airun redo --user alice       alice's oldest undone operation"
    )]
    Redo {
        /// How many operations to redo.
        #[arg(long, default_value_t = 1)]
        steps: usize,
        /// Only this user's undone operations (`operator` for the operator's).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the operations of this workspace, newest first.
    #[command(
        after_help = "Examples:\n  airun history\n  airun history --limit 100 --json\n  airun history --sessions          the agent sessions, with how much each can undo\n  airun history --session 3f9a0c2e71   one session's operations\n  airun history --user alice        one user's operations\n  airun history --by-user           a section per user, with their counts"
    )]
    History {
        /// Most operations to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only the operations of this agent session.
        #[arg(long, value_name = "S")]
        session: Option<String>,
        /// List the agent sessions instead: id, transport, client, first and last time,
        /// operations and how many can be undone.
        #[arg(long, conflicts_with = "session")]
        sessions: bool,
        /// Only the operations (or with --sessions, the sessions) of this user
        /// (`operator` for the operator's).
        #[arg(long, value_name = "NAME")]
        user: Option<String>,
        /// A section per user: how many operations they made and can still undo, and
        /// their newest operations (--limit of them).
        #[arg(long, conflicts_with_all = ["session", "sessions", "user"])]
        by_user: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, verify or export the audit log.
    #[command(
        after_help = "Examples:\n  airun audit                   the newest records\n  airun audit verify            check the hash chain\n  airun audit export > audit.jsonl\n  airun audit --user alice      alice's newest records\n  airun audit export --user alice > alice.jsonl"
    )]
    Audit {
        /// verify or export; without one, lists the newest records.
        #[command(subcommand)]
        action: Option<AuditAction>,
        /// Most records to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this user's records (`operator` for the operator's), when listing or
        /// exporting.
        #[arg(long, global = true, value_name = "NAME")]
        user: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Expire old undo points beyond the retention limits and remove unused blobs.
    #[command(after_help = "Examples:\n  airun gc\n  airun gc --json")]
    Gc {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check the setup: workspace, state folder, sandbox mechanism.
    #[command(
        after_help = "Examples:\n  airun doctor\n  airun --workspace ~/project doctor --json"
    )]
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The users of a team server: who may call, watch or administer it.
    #[command(
        after_help = "Examples:\n  airun user add alice --role agent                 her own workspace under $AIRUN_HOME/users/alice\n  airun user add ci --role agent --workspace ~/repo --policy ci.toml\n  airun user add bob --role viewer\n  airun user list\n  airun user token rotate alice                     a new token; the old one stops working\n  airun user remove bob"
    )]
    User {
        /// What to do with the users.
        #[command(subcommand)]
        action: UserAction,
    },
    /// The workspace's state folder (journal and audit log).
    State {
        /// What to do with the state.
        #[command(subcommand)]
        action: StateAction,
    },
    /// The operator's policy (see the README's "Operator policy").
    #[command(
        after_help = "Examples:\n  airun policy show\n  airun --policy ./policy.toml policy show --json"
    )]
    Policy {
        /// What to do with the policy.
        #[command(subcommand)]
        action: PolicyAction,
    },
}

/// What to do with the operator's policy.
#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// Print the effective policy: the file plus the defaults of every key it leaves out.
    Show {
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
}

/// What to do with the state folder.
#[derive(Debug, Subcommand)]
pub enum StateAction {
    /// Start a new journal and audit log after the state was damaged or lost (moves the
    /// damaged database aside; the workspace's files are not touched; audited).
    Reset {
        /// Reset even a state that is intact (its undo history is lost).
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// What to do with the audit log.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check the hash chain; exits 1 and names the first bad record.
    Verify,
    /// Print every record, one JSON object a line (JSONL), oldest first.
    Export {
        /// One JSON record per line: the default and only format (accepted for scripts).
        #[arg(long)]
        jsonl: bool,
    },
}

/// What to do with the users.
#[derive(Debug, Subcommand)]
pub enum UserAction {
    /// Add a user and print their token (once: only its hash is kept). `--workspace DIR`
    /// (given on the command line; AIRUN_WORKSPACE is not used here) is the folder their
    /// calls act in [default: $AIRUN_HOME/users/NAME/workspace]; `--policy FILE` their own
    /// policy, which can only narrow the operator's.
    Add {
        /// The user's name (lowercase letters, digits, `.`, `_`, `-`).
        name: String,
        /// viewer (watch), agent (call and undo in their own workspace) or admin (everything).
        #[arg(long, value_name = "ROLE")]
        role: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the users (never their tokens).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a user (their workspace and its history stay on disk).
    Remove {
        /// The user's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manage a user's token.
    Token {
        /// What to do with the token.
        #[command(subcommand)]
        action: UserTokenAction,
    },
}

/// What to do with a user's token.
#[derive(Debug, Subcommand)]
pub enum UserTokenAction {
    /// Make a new token for the user and print it; the old one stops working at once.
    Rotate {
        /// The user's name.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
