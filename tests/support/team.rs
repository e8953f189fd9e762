//! A team server for the multi-user tests: agents alice and bob (each in their own
//! workspace), viewer vic and admin ada, added with `airun user add`, and a real
//! `airun serve --port 0` with the operator's token, reached through [`Api`].

use super::http::Api;
use super::mcp::{AIRUN, Dirs};
use super::serve::{NewUser, Started, add_user, command, start};
use std::path::Path;
use std::process::{Command, Output};

/// The four users and the running server.
pub struct Team {
    /// The server's workspace and the home the users live in.
    pub dirs: Dirs,
    /// The server process (killed when the team is dropped).
    pub server: Started,
    /// An agent.
    pub alice: NewUser,
    /// Another agent.
    pub bob: NewUser,
    /// A viewer.
    pub vic: NewUser,
    /// An admin.
    pub ada: NewUser,
    /// Requests to the server.
    pub api: Api,
}

impl std::ops::Deref for Team {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Team {
    /// Adds the four users in `dirs.home` (`alice_args` go to alice's `user add`, e.g.
    /// her own `--policy`), then starts `airun serve --token OPERATOR SERVER_ARGS` on
    /// `dirs.ws`.
    pub fn start(dirs: Dirs, operator: &str, alice_args: &[&str], server_args: &[&str]) -> Team {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let bin = Path::new(AIRUN);
        let alice = add_user(bin, &dirs.home, "alice", "agent", alice_args);
        let bob = add_user(bin, &dirs.home, "bob", "agent", &[]);
        let vic = add_user(bin, &dirs.home, "vic", "viewer", &[]);
        let ada = add_user(bin, &dirs.home, "ada", "admin", &[]);
        let mut args = vec!["--token", operator];
        args.extend(server_args);
        let server = start(command(bin, &dirs.ws, &dirs.home, &args));
        Team {
            api: Api::new(&server.addr),
            dirs,
            server,
            alice,
            bob,
            vic,
            ada,
        }
    }

    /// `airun ARGS` on this team's home, which succeeds: its output.
    pub fn airun(&self, args: &[&str]) -> Output {
        super::succeeds(
            Command::new(AIRUN)
                .args(args)
                .env("AIRUN_HOME", &self.dirs.home)
                .env_remove("AIRUN_TOKEN")
                .env_remove("AIRUN_WORKSPACE"),
        )
    }
}
