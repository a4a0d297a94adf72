//! `tessera`: parse the command line and settings, set up logging, hand over to the library.

use tessera::{cli::Cli, commands, config::Settings, telemetry};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse_or_exit();
    let result = match Settings::load(cli.command.settings()) {
        Ok(settings) => {
            let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
            let logs = telemetry::BatchedStderr::start();
            telemetry::init(&settings.log, settings.log_format, colour, logs.clone());
            let _flushed = logs.flush_on_drop();
            commands::run(cli.command, settings).await
        }
        Err(err) => Err(err),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line: an operator reads the cause without a backtrace.
            eprintln!("tessera: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
