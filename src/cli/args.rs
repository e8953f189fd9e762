//! Command-line arguments.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// airun: typed, sandboxed, auditable tools for AI models and people.
#[derive(Debug, Parser)]
#[command(name = "airun", version, about, long_about = None)]
pub struct Cli {
    /// Options for every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options for every command.
#[derive(Debug, Args)]
pub struct Global {
    /// The workspace folder capabilities act in [default: ~/.ai-first/workspaces/$USER/default]
    #[arg(long, global = true, env = "AIRUN_WORKSPACE", value_name = "DIR")]
    pub workspace: Option<PathBuf>,
    /// Refuse, and hide, every capability that changes state.
    #[arg(long, global = true)]
    pub read_only: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the capabilities.
    List {
        /// Print JSON.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// Print a Markdown table.
        #[arg(long)]
        markdown: bool,
    },
    /// Show one capability: its inputs, outputs and contracts.
    Inspect {
        /// Dotted id or tool name.
        id: String,
        /// Print JSON (with the MCP and OpenAI schemas).
        #[arg(long)]
        json: bool,
    },
    /// Run one capability.
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
    /// Check the setup: workspace, state folder, sandbox mechanism.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}
