//! `airun openai tools` and `airun openai call`: OpenAI function calling from the shell.

use crate::adapters::openai::{self, Api};
use crate::cli::Global;
use crate::error::{CapError, ErrorKind};
use crate::pipeline::{Confirmer, FlagConfirmer, NoConfirmer};
use crate::powers::CapabilitySet;
use clap::{Args, Subcommand};
use std::io::Read;
use std::process::ExitCode;

/// Options of `airun openai`.
#[derive(Debug, Args)]
pub struct OpenaiArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: OpenaiCommand,
}

/// The `airun openai` subcommands.
#[derive(Debug, Subcommand)]
pub enum OpenaiCommand {
    /// Print the tool list (strict schemas) for a request's `tools` parameter.
    Tools {
        /// The API to shape the list for.
        #[arg(long, value_enum, default_value_t = Api::Chat)]
        api: Api,
    },
    /// Run the model's tool calls read on stdin; print the tool messages (chat) or
    /// `function_call_output` items (responses) as a JSON array.
    ///
    /// Input: an assistant message with `tool_calls` or the bare array (chat); a response
    /// object with `output`, or `function_call` items (responses). A failed call becomes an
    /// output carrying the error, so the model can correct itself.
    Call {
        /// The API to shape the outputs for.
        #[arg(long, value_enum, default_value_t = Api::Chat)]
        api: Api,
        /// Approve, as the operator, calls that need confirmation (otherwise only the
        /// auto-approve list does, and the rest are declined).
        #[arg(long, short = 'y')]
        yes: bool,
    },
}

/// Runs `airun openai`.
pub fn run<S: CapabilitySet>(
    set: S,
    global: &Global,
    args: &OpenaiArgs,
) -> Result<ExitCode, CapError> {
    let pipeline = super::pipeline(set, global)?;
    let out = match &args.command {
        OpenaiCommand::Tools { api } => openai::tools(&pipeline.capabilities(), *api),
        OpenaiCommand::Call { api, yes } => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).map_err(|e| {
                CapError::new(ErrorKind::InvalidInput, format!("cannot read stdin: {e}"))
            })?;
            let calls = openai::parse_tool_calls_text(&text)?;
            let confirmer: &dyn Confirmer = if *yes { &FlagConfirmer } else { &NoConfirmer };
            serde_json::Value::Array(openai::run_tool_calls(&pipeline, &calls, *api, confirmer))
        }
    };
    super::render::print_json(&out);
    Ok(ExitCode::SUCCESS)
}
