//! The one tracing setup; tests reuse it with a capturing writer.

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one coloured line per event, span fields in front.
    Text,
    /// For log pipelines: one JSON object per line, with the request's span fields.
    Json,
}

/// Installs the global subscriber once; later calls (tests) keep the first. `colour` only for
/// a terminal: escape codes in a file or a log pipeline are noise.
pub fn init<W>(filter: &str, format: LogFormat, colour: bool, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour && format == LogFormat::Text)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}
