fn main() -> std::process::ExitCode { airun::cli::main() }
