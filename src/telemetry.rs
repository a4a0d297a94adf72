//! The one tracing setup; tests reuse it with a capturing writer.

use tracing_subscriber::{EnvFilter, fmt::MakeWriter};

/// Installs the global subscriber once; later calls (tests) keep the first.
pub fn init<W>(filter: &str, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .try_init();
}
