//! The one tracing setup; tests reuse it with a capturing writer.

use std::{
    fmt::{self, Write as _},
    future::Future,
    io::Write,
    sync::{
        Arc, Condvar, Mutex, MutexGuard,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tracing::{
    Event, Level, Subscriber,
    field::{Field, Visit},
};
use tracing_log::NormalizeEvent;
use tracing_subscriber::{
    EnvFilter,
    field::RecordFields,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
        format::{Format, Json, JsonFields, Writer},
    },
    registry::LookupSpan,
};

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people: one line per event, the request's label in front; the level coloured on a
    /// terminal.
    Text,
    /// For log pipelines: one JSON object per line, the request's label as its `span`.
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
        LogFormat::Text => builder
            .event_format(PlainText)
            .fmt_fields(PlainFields)
            .try_init(),
        LogFormat::Json => builder
            .fmt_fields(JsonFields::new())
            .event_format(json_lines())
            .try_init(),
    };
}

/// One JSON object per line, the request's label as its `span`. Other spans are left out:
/// Tessera makes none, and the label takes their key.
fn json_lines() -> LabelledJson<Format<Json>> {
    LabelledJson(
        tracing_subscriber::fmt::format()
            .json()
            .with_current_span(false)
            .with_span_list(false),
    )
}

tokio::task_local! {
    static REQUEST: RequestLabel;
}

/// What names a request on every line logged while it is served: its id, method and path,
/// written where and as a `request{id=.. method=.. path=..}` span's fields were. It travels
/// with the request's task, and into the password hashing job it queues, rather than being a
/// tracing span: creating, entering and closing a span in the registry cost 1.3 us of the
/// 12.7 us of CPU a trivial request took under load, a tenth, with or without fields. The
/// label costs a thread-local swap per poll, and is written only when a line is.
#[derive(Clone, Debug)]
pub struct RequestLabel {
    pub id: String,
    pub method: poem::http::Method,
    pub path: String,
}

impl RequestLabel {
    /// Runs `future` with this label on the lines it logs.
    pub fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        REQUEST.scope(self, future)
    }

    /// Runs `work` on this thread with this label on the lines it logs.
    pub fn run<R>(self, work: impl FnOnce() -> R) -> R {
        REQUEST.sync_scope(self, work)
    }

    /// Calls `read` with the label of the request being served here, if there is one.
    pub fn with_current<R>(read: impl FnOnce(&RequestLabel) -> R) -> Option<R> {
        REQUEST.try_with(read).ok()
    }

    /// `request{id=.. method=.. path=..}:`, byte for byte what `PlainText` wrote for the span.
    fn write_text(&self, writer: &mut impl fmt::Write) -> fmt::Result {
        writer.write_str("request{id=")?;
        OneLine(&mut *writer).write_str(&self.id)?;
        writer.write_str(" method=")?;
        OneLine(&mut *writer).write_str(self.method.as_str())?;
        writer.write_str(" path=")?;
        OneLine(&mut *writer).write_str(&self.path)?;
        writer.write_str("}:")
    }

    /// The `span` object tracing-subscriber's JSON lines gave the request span.
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "method": self.method.as_str(),
            "path": self.path,
            "name": "request",
        })
    }
}

/// tracing-subscriber's JSON line, with the request's label as its `span` inside a request.
struct LabelledJson<F>(F);

impl<S, N, F> FormatEvent<S, N> for LabelledJson<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(span) = RequestLabel::with_current(RequestLabel::json) else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        // The object ends the line: `{"timestamp":..,"target":".."}` and a newline.
        match line.strip_suffix("}\n") {
            Some(object) => writeln!(writer, "{object},\"span\":{span}}}"),
            None => writer.write_str(&line),
        }
    }
}

/// tracing-subscriber's default text line without colour, written with a handful of string
/// copies: the default goes through `fmt` machinery and colour wrappers even when colour is
/// off, which a line per request pays at tens of thousands a second (`cargo bench --bench
/// request_log`). Same layout, so what parses one parses the other:
/// `2026-12-04T02:55:21.123456Z  INFO request{id=… method=GET path=/healthz}: target: fields`.
/// The `request{..}:` part is the [`RequestLabel`]'s, written as the request span's fields
/// were. On a terminal the level is coloured, and only the level.
pub struct PlainText;

impl<S, N> FormatEvent<S, N> for PlainText
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let timestamp = utc_timestamp(SystemTime::now());
        writer.write_str(std::str::from_utf8(&timestamp).map_err(|_| std::fmt::Error)?)?;
        let (level, colour) = match *meta.level() {
            Level::TRACE => (" TRACE ", "35"),
            Level::DEBUG => (" DEBUG ", "34"),
            Level::INFO => ("  INFO ", "32"),
            Level::WARN => ("  WARN ", "33"),
            Level::ERROR => (" ERROR ", "31"),
        };
        if writer.has_ansi_escapes() {
            write!(writer, "\x1b[{colour}m{level}\x1b[0m")?;
        } else {
            writer.write_str(level)?;
        }
        let mut prefixed = RequestLabel::with_current(|label| label.write_text(&mut writer))
            .transpose()?
            .is_some();
        if let Some(scope) = ctx.event_scope() {
            prefixed = true;
            for span in scope.from_root() {
                writer.write_str(span.name())?;
                if let Some(fields) = span.extensions().get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    writer.write_char('{')?;
                    writer.write_str(fields)?;
                    writer.write_char('}')?;
                }
                writer.write_char(':')?;
            }
        }
        if prefixed {
            writer.write_char(' ')?;
        }
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The fields of [`PlainText`]'s lines: tracing-subscriber's default layout without colour
/// (`message` bare, then `name=value` separated by spaces), written without its colour
/// wrappers, and with every value kept to its line. The default escapes terminal control
/// characters in messages and errors but writes `%` and `?` values and a message's newlines
/// raw; here a newline, a carriage return or a terminal escape is written escaped (`\n`,
/// `\x1b`) wherever it comes from, so that a value from outside (a path, a peer's error
/// text) cannot forge a log line or drive an operator's terminal.
pub struct PlainFields;

impl<'writer> FormatFields<'writer> for PlainFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = PlainVisitor {
            writer,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct PlainVisitor<'writer> {
    writer: Writer<'writer>,
    first: bool,
    result: fmt::Result,
}

impl PlainVisitor<'_> {
    /// Starts a field (`name=`, or nothing for the message), unless it is to be skipped.
    fn start(&mut self, field: &Field) -> bool {
        let name = field.name();
        // What tracing-log already wrote as the line's target and location.
        if self.result.is_err() || name.starts_with("log.") {
            return false;
        }
        if !std::mem::take(&mut self.first) {
            self.result = self.writer.write_char(' ');
        }
        if name != "message" {
            self.result = self
                .result
                .and_then(|()| {
                    self.writer
                        .write_str(name.strip_prefix("r#").unwrap_or(name))
                })
                .and_then(|()| self.writer.write_char('='));
        }
        self.result.is_ok()
    }
}

impl Visit for PlainVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if self.start(field) {
            self.result = if field.name() == "message" {
                OneLine(&mut self.writer).write_str(value)
            } else {
                // Quoted and escaped, as the default writes a string field.
                write!(self.writer, "{value:?}")
            };
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if self.start(field) {
            self.result = self.writer.write_str(if value { "true" } else { "false" });
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.start(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if self.start(field) {
            self.result = write!(self.writer, "{value}");
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if self.start(field) {
            let mut line = OneLine(&mut self.writer);
            self.result = write!(line, "{value}");
            if let Some(source) = value.source() {
                let name = field.name();
                self.result = self
                    .result
                    .and_then(|()| write!(line, " {name}.sources=["))
                    .and_then(|()| {
                        let mut next = Some(source);
                        let mut first = true;
                        while let Some(error) = next {
                            if !std::mem::take(&mut first) {
                                line.write_str(", ")?;
                            }
                            write!(line, "{error}")?;
                            next = error.source();
                        }
                        line.write_char(']')
                    });
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if self.start(field) {
            self.result = write!(OneLine(&mut self.writer), "{value:?}");
        }
    }
}

/// Writes text through, with the characters that would end a log line or drive a terminal
/// escaped: newline and carriage return as `\n` and `\r`, other C0 controls but tab and DEL
/// as `\x1b`, C1 controls as `\u{9b}` (the default's spelling for those it escapes).
struct OneLine<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for OneLine<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // 0xc2 leads the UTF-8 of every C1 control.
        let suspect = |byte: u8| (byte < 0x20 && byte != b'\t') || byte == 0x7f || byte == 0xc2;
        if !text.bytes().any(suspect) {
            return self.0.write_str(text);
        }
        let mut clean_from = 0;
        for (at, ch) in text.char_indices() {
            let code = u32::from(ch);
            let is_control = (code < 0x20 && ch != '\t') || (0x7f..=0x9f).contains(&code);
            if !is_control {
                continue;
            }
            self.0.write_str(&text[clean_from..at])?;
            clean_from = at + ch.len_utf8();
            match ch {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                _ if code <= 0x7f => write!(self.0, "\\x{code:02x}")?,
                _ => write!(self.0, "\\u{{{code:x}}}")?,
            }
        }
        self.0.write_str(&text[clean_from..])
    }
}

/// RFC 3339 in UTC with microseconds, as tracing-subscriber writes it.
fn utc_timestamp(now: SystemTime) -> [u8; 27] {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, of_day) = (seconds / 86_400, seconds % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01 (no dates before it here).
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    let mut text = [0u8; 27];
    let mut put = |at: usize, width: usize, mut value: u64| {
        for slot in text[at..at + width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, of_day / 3600);
    put(14, 2, of_day / 60 % 60);
    put(17, 2, of_day % 60);
    put(20, 6, u64::from(since_epoch.subsec_micros()));
    for (at, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (26, b'Z'),
    ] {
        text[at] = separator;
    }
    text
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

/// Log lines for stderr, written in batches by a thread of their own: a request's line costs a
/// copy into a buffer instead of a `write` call under stderr's lock (at tens of thousands of
/// requests a second, those calls were a fifth of a request's cost). A line reaches stderr
/// within [`BatchedStderr::GATHER`]. At most [`BatchedStderr::CAPACITY`] wait; past it a line
/// is written at once, with those before it, so a flood of logs slows its senders rather than
/// growing memory or dropping lines. Hold a [`BatchedStderr::flush_on_drop`] guard until the
/// process exits.
#[derive(Clone)]
pub struct BatchedStderr {
    shared: Arc<PendingLines>,
}

/// The lines waiting for the writing thread.
pub struct PendingLines {
    lines: Mutex<Vec<u8>>,
    waiting: Condvar,
    sink: Mutex<Box<dyn Write + Send>>,
    /// No writing thread could be started: each line is written by its sender.
    unbatched: AtomicBool,
}

impl BatchedStderr {
    const GATHER: Duration = Duration::from_millis(5);
    const CAPACITY: usize = 1024 * 1024;

    pub fn start() -> Self {
        Self::writing_to(Box::new(std::io::stderr()))
    }

    fn writing_to(sink: Box<dyn Write + Send>) -> Self {
        let shared = Arc::new(PendingLines {
            lines: Mutex::new(Vec::new()),
            waiting: Condvar::new(),
            sink: Mutex::new(sink),
            unbatched: AtomicBool::new(false),
        });
        let writer = shared.clone();
        let started = std::thread::Builder::new()
            .name("tessera-log".into())
            .spawn(move || {
                loop {
                    {
                        let lines = writer.lock();
                        let _waited = writer
                            .waiting
                            .wait_while(lines, |lines| lines.is_empty())
                            .unwrap_or_else(|p| p.into_inner());
                    }
                    std::thread::sleep(Self::GATHER);
                    drop(writer.write_out(writer.lock()));
                }
            });
        if let Err(err) = started {
            shared.unbatched.store(true, Ordering::Relaxed);
            eprintln!("tessera: log lines will be written one by one: {err}");
        }
        Self { shared }
    }

    pub fn flush(&self) {
        drop(self.shared.write_out(self.shared.lock()));
    }

    /// Flushes when dropped: at the end of `main`, however it ends (a panic unwinding too).
    pub fn flush_on_drop(&self) -> FlushOnDrop {
        FlushOnDrop(self.clone())
    }
}

pub struct FlushOnDrop(BatchedStderr);

impl Drop for FlushOnDrop {
    fn drop(&mut self) {
        self.0.flush();
    }
}

impl PendingLines {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is waiting and hands back the sink, still held. It is taken before
    /// the lines are let go, so batches keep their order; senders wait only for the copy.
    fn write_out(
        &self,
        mut lines: MutexGuard<'_, Vec<u8>>,
    ) -> MutexGuard<'_, Box<dyn Write + Send>> {
        let batch = std::mem::take(&mut *lines);
        let mut sink = self.sink.lock().unwrap_or_else(|p| p.into_inner());
        drop(lines);
        if !batch.is_empty() {
            let _ = sink.write_all(&batch).and_then(|()| sink.flush());
        }
        sink
    }
}

impl Write for &PendingLines {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.lock();
        let was_empty = lines.is_empty();
        if lines.len() + line.len() > BatchedStderr::CAPACITY
            || self.unbatched.load(Ordering::Relaxed)
        {
            let mut sink = self.write_out(lines);
            let _ = sink.write_all(line).and_then(|()| sink.flush());
            return Ok(line.len());
        }
        lines.extend_from_slice(line);
        drop(lines);
        if was_empty {
            self.waiting.notify_one();
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = &'a PendingLines;

    fn make_writer(&'a self) -> Self::Writer {
        &self.shared
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink the test can read.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        /// A subscriber writing here as `init` writes text without colour, every level on.
        fn plain_text(&self) -> impl Subscriber + Send + Sync + 'static {
            let writer = self.clone();
            tracing_subscriber::fmt()
                .with_env_filter("trace")
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .event_format(PlainText)
                .fmt_fields(PlainFields)
                .finish()
        }
    }

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_come_out_in_order_soon_after_they_are_logged() {
        let captured = Captured::default();
        let log = BatchedStderr::writing_to(Box::new(captured.clone()));
        for n in 0..100 {
            let _ = log.make_writer().write(format!("line {n}\n").as_bytes());
        }
        std::thread::sleep(BatchedStderr::GATHER * 20);
        let expected: String = (0..100).map(|n| format!("line {n}\n")).collect();
        assert_eq!(
            String::from_utf8(captured.0.lock().unwrap().clone()).unwrap(),
            expected
        );
    }

    /// `PlainText` is an optimisation, not a new format: its lines are the default's, byte for
    /// byte after the timestamp: a request's line, a nested span, a span without fields,
    /// events outside any span at every level, and a `log` record (sqlx and redis log through
    /// `log`).
    #[test]
    fn plain_lines_are_the_default_text_lines() {
        fn lines(plain: bool) -> String {
            let captured = Captured::default();
            let writer = captured.clone();
            let builder = tracing_subscriber::fmt()
                .with_env_filter("trace")
                .with_ansi(false)
                .with_writer(move || writer.clone());
            let emit = || {
                let request = tracing::info_span!("request", id = %"0a1b", method = %"GET", path = %"/healthz");
                let _request = request.enter();
                tracing::info!(status = 200u16, ms = 0.25, "request done");
                let inner = tracing::debug_span!("hash", r#type = "argon2id", queued = 3);
                let _inner = inner.enter();
                tracing::warn!(error = %"pool timed out", retry = true, "could not reach the database");
                let failure = Failure(
                    "handshake",
                    Some(Box::new(Failure("certificate expired", None))),
                );
                tracing::error!(
                    error = &failure as &(dyn std::error::Error + 'static),
                    elapsed = ?Duration::from_millis(3),
                    "TLS to the peer failed"
                );
                drop((_inner, _request));
                let quiet = tracing::info_span!("quiet");
                tracing::debug!(parent: &quiet, "inside a span without fields");
                tracing::trace!("bare");
                tracing::error!(code = 3, "bare");
                tracing_log::format_trace(
                    &log::Record::builder()
                        .args(format_args!("slow statement"))
                        .level(log::Level::Warn)
                        .target("sqlx::query")
                        .module_path_static(Some("sqlx_core::logger"))
                        .build(),
                )
                .unwrap();
            };
            if plain {
                let plain = builder.event_format(PlainText).fmt_fields(PlainFields);
                tracing::subscriber::with_default(plain.finish(), emit);
            } else {
                tracing::subscriber::with_default(builder.finish(), emit);
            }
            String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
        }
        let after_timestamps = |text: String| -> Vec<String> {
            text.lines().map(|line| line[27..].to_owned()).collect()
        };
        let plain = after_timestamps(lines(true));
        assert_eq!(plain, after_timestamps(lines(false)));
        assert_eq!(plain.len(), 7, "{plain:?}");
        assert_eq!(
            plain[0],
            "  INFO request{id=0a1b method=GET path=/healthz}: tessera::telemetry::tests: request done status=200 ms=0.25"
        );
        assert!(
            plain[1].contains("}:hash{type=\"argon2id\" queued=3}: "),
            "{}",
            plain[1]
        );
        assert!(
            plain[2].ends_with(
                "TLS to the peer failed error=handshake error.sources=[certificate expired] elapsed=3ms"
            ),
            "{}",
            plain[2]
        );
        assert_eq!(
            plain[3..],
            [
                " DEBUG quiet: tessera::telemetry::tests: inside a span without fields",
                " TRACE tessera::telemetry::tests: bare",
                " ERROR tessera::telemetry::tests: bare code=3",
                "  WARN sqlx::query: slow statement",
            ]
        );
    }

    /// An error with an optional source, for the error field above.
    #[derive(Debug)]
    struct Failure(&'static str, Option<Box<Failure>>);

    impl std::fmt::Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Failure {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|source| source as _)
        }
    }

    /// A value from outside cannot add a line or reach the terminal: newlines and control
    /// characters come out escaped, in the message, in an event's fields and in a span's.
    #[test]
    fn plain_lines_stay_one_line_whatever_the_values() {
        let captured = Captured::default();
        let subscriber = captured.plain_text();
        tracing::subscriber::with_default(subscriber, || {
            let forged =
                "/x\n2026-01-01T00:00:00.000000Z  INFO admin logged in\r\x1b[2J\u{9b}\x07\tend";
            let span = tracing::info_span!("request", path = %forged);
            let _entered = span.enter();
            tracing::warn!(peer = %forged, detail = forged, "peer said {forged}");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains(['\r', '\x1b', '\u{9b}', '\x07']), "{text:?}");
        let escaped =
            "/x\\n2026-01-01T00:00:00.000000Z  INFO admin logged in\\r\\x1b[2J\\u{9b}\\x07\tend";
        assert!(
            text.contains(&format!("request{{path={escaped}}}: ")),
            "{text}"
        );
        assert!(
            text.contains(&format!(": peer said {escaped} peer={escaped} detail=")),
            "{text}"
        );
    }

    fn healthz_label() -> RequestLabel {
        RequestLabel {
            id: "0a1b".into(),
            method: poem::http::Method::GET,
            path: "/healthz".into(),
        }
    }

    /// The label replaced a span: inside a request, a line must read as it did with the span,
    /// nested spans after it.
    #[test]
    fn a_labelled_line_reads_as_the_request_spans_line_did() {
        fn lines(labelled: bool) -> Vec<String> {
            let captured = Captured::default();
            let subscriber = captured.plain_text();
            let emit = || {
                tracing::info!(status = 200u16, ms = 0.25, "request done");
                let inner = tracing::debug_span!("hash", queued = 3);
                let _inner = inner.enter();
                tracing::warn!("slow");
            };
            tracing::subscriber::with_default(subscriber, || {
                if labelled {
                    healthz_label().run(emit);
                } else {
                    let span = tracing::info_span!("request", id = %"0a1b", method = %"GET", path = %"/healthz");
                    span.in_scope(emit);
                }
                tracing::info!("outside");
            });
            let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            text.lines().map(|line| line[27..].to_owned()).collect()
        }
        let labelled = lines(true);
        assert_eq!(labelled, lines(false));
        assert_eq!(
            labelled,
            [
                "  INFO request{id=0a1b method=GET path=/healthz}: tessera::telemetry::tests: request done status=200 ms=0.25",
                "  WARN request{id=0a1b method=GET path=/healthz}:hash{queued=3}: tessera::telemetry::tests: slow",
                "  INFO tessera::telemetry::tests: outside",
            ]
        );
    }

    /// JSON lines carry the label as the `span` object the request span gave them.
    #[test]
    fn a_labelled_json_line_has_the_request_spans_object() {
        fn line(labelled: bool) -> serde_json::Value {
            let captured = Captured::default();
            let writer = captured.clone();
            let builder = tracing_subscriber::fmt()
                .with_env_filter("trace")
                .with_writer(move || writer.clone());
            let emit = || tracing::info!(status = 200u16, "request done");
            if labelled {
                let subscriber = builder
                    .fmt_fields(JsonFields::new())
                    .event_format(json_lines())
                    .finish();
                tracing::subscriber::with_default(subscriber, || healthz_label().run(emit));
            } else {
                let subscriber = builder.json().with_span_list(false).finish();
                tracing::subscriber::with_default(subscriber, || {
                    let span = tracing::info_span!("request", id = %"0a1b", method = %"GET", path = %"/healthz");
                    span.in_scope(emit);
                });
            }
            let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
            assert_eq!(text.lines().count(), 1, "{text}");
            let mut line: serde_json::Value = serde_json::from_str(&text).unwrap();
            line.as_object_mut().unwrap().remove("timestamp");
            line
        }
        let labelled = line(true);
        assert_eq!(labelled, line(false));
        assert_eq!(
            labelled["span"],
            serde_json::json!({"id": "0a1b", "method": "GET", "path": "/healthz", "name": "request"})
        );
    }

    #[test]
    fn a_labels_path_cannot_forge_a_line() {
        let captured = Captured::default();
        let subscriber = captured.plain_text();
        let label = RequestLabel {
            path: "/x\n2026-01-01T00:00:00.000000Z  INFO admin logged in\x1b[2J".into(),
            ..healthz_label()
        };
        tracing::subscriber::with_default(subscriber, || {
            label.run(|| tracing::info!("request done"))
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("path=/x\\n2026-01-01T00:00:00.000000Z  INFO admin logged in\\x1b[2J}: "),
            "{text}"
        );
    }

    #[test]
    fn timestamps_are_rfc_3339_in_utc_with_microseconds() {
        for seconds in [
            0,
            951_782_400,
            1_709_164_800,
            1_677_628_799,
            1_735_689_599,
            1_796_346_921,
            4_102_444_800,
            4_107_542_399,
            4_107_542_400,
        ] {
            for micros in [0, 7, 999_999] {
                let at = UNIX_EPOCH + Duration::new(seconds, micros * 1000);
                let expected = chrono::DateTime::<chrono::Utc>::from(at)
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string();
                assert_eq!(std::str::from_utf8(&utc_timestamp(at)).unwrap(), expected);
            }
        }
    }

    /// The bound on what a flood of requests' log lines can hold in memory.
    #[test]
    fn waiting_lines_stay_under_the_capacity_and_none_is_lost() {
        let captured = Captured::default();
        let log = BatchedStderr::writing_to(Box::new(captured.clone()));
        let line = [b'x'; 999];
        let mut most = 0;
        for _ in 0..5_000 {
            let _ = log.make_writer().write(&line);
            most = most.max(log.shared.lock().len());
        }
        log.flush();
        assert!(most <= BatchedStderr::CAPACITY, "{most} bytes waited");
        assert_eq!(captured.0.lock().unwrap().len(), 5_000 * line.len());
    }
}
