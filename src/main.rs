use std::process::ExitCode;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = millrace::defs::clock::check_env() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let code = millrace::cli::main();
    tracing::debug!("exiting");
    code
}
