use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOADTEST_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = loadtest::cli::Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(loadtest::error::EXIT_FAILED);
        }
    };
    let code = runtime.block_on(async {
        match loadtest::cli::exec(cli).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e:#}");
                loadtest::cli::exit_code(&e)
            }
        }
    });
    std::process::exit(code);
}
