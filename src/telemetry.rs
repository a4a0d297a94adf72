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
    let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // sea-orm's migrator says two info lines per migration, and PostgreSQL a notice per
    // `CREATE TABLE IF NOT EXISTS` it skips, on every start and every command: noise at info,
    // still there at debug or when named.
    let verbose = filter
        .max_level_hint()
        .is_some_and(|level| level > tracing_subscriber::filter::LevelFilter::INFO);
    for noisy in ["sea_orm_migration", "sqlx::postgres::notice"] {
        if !verbose && !filter.to_string().contains(noisy) {
            let directive = format!("{noisy}=warn").parse().expect("a valid directive");
            filter = filter.add_directive(directive);
        }
    }
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

/// Logs a dependency's outage once, not once per request that meets it: the first failure,
/// then at most one reminder a minute while it lasts.
pub struct OutageLog {
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl OutageLog {
    const REMINDER: std::time::Duration = std::time::Duration::from_secs(60);

    pub const fn new() -> Self {
        Self {
            last: std::sync::Mutex::new(None),
        }
    }

    /// Whether this failure should be logged.
    pub fn should_log(&self) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= Self::REMINDER);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// The dependency answered again: its next failure is news.
    pub fn recovered(&self) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

impl Default for OutageLog {
    fn default() -> Self {
        Self::new()
    }
}
