//! A complete OpenAI function-calling loop over airun, against canned model replies (no
//! network, no API key).
//!
//! ```text
//! cargo run --example openai_loop
//! ```
//!
//! A real loop sends `request` to `POST /v1/chat/completions` and reads the reply from
//! the response; everything else is the same. The operator pre-approves the write with
//! the settings' auto-approve list, so nothing needs a person at a prompt.

use airun::adapters::openai::{self, Api};
use airun::pipeline::{NoConfirmer, Pipeline, Settings};
use airun::sandbox::Workspace;
use serde_json::{Value, json};

/// Stands in for the model: the first turn asks for two tool calls, the second answers.
fn model(turn: usize) -> Value {
    match turn {
        0 => json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {
                    "name": "io_fs_write_file",
                    "arguments": "{\"path\":\"notes/shopping.txt\",\"content\":\"milk\\neggs\\n\",\"encoding\":null,\"create_dirs\":true,\"mode\":null}"}},
                {"id": "call_2", "type": "function", "function": {
                    "name": "io_fs_read_file",
                    "arguments": "{\"path\":\"notes/shopping.txt\",\"encoding\":null,\"offset_line\":null,\"limit_lines\":null}"}}
            ]
        }),
        _ => {
            json!({"role": "assistant", "content": "Your list is saved in notes/shopping.txt: milk, eggs."})
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::env::temp_dir().join(format!("airun-openai-loop-{}", std::process::id()));
    let workspace = Workspace::open(&root, true, None)?;
    let settings = Settings {
        auto_approve: vec!["io.fs.write_file".into()],
        ..Settings::default()
    };
    let pipeline = Pipeline::new(airun::stdlib::capabilities(), workspace, settings);

    let mut messages =
        vec![json!({"role": "user", "content": "Save milk and eggs to my shopping list."})];
    for turn in 0.. {
        // The request a real loop would send.
        let request = json!({
            "model": "gpt-4.1",
            "messages": messages,
            "tools": openai::tools(&pipeline.capabilities(), Api::Chat),
        });
        println!(
            "-> request {turn}: {} messages, {} tools",
            request["messages"].as_array().map_or(0, Vec::len),
            request["tools"].as_array().map_or(0, Vec::len)
        );
        let reply = model(turn);
        messages.push(reply.clone());
        let calls = openai::parse_tool_calls(&reply)?;
        if calls.is_empty() {
            println!("<- {}", reply["content"].as_str().unwrap_or_default());
            break;
        }
        // Every call goes through validation, sandbox, confirmation and audit.
        for output in openai::run_tool_calls(&pipeline, &calls, Api::Chat, &NoConfirmer) {
            println!("   tool {}: {}", output["tool_call_id"], output["content"]);
            messages.push(output);
        }
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
