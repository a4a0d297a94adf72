//! `tessera users ...`: accounts from the command line, through the same `users` module the
//! HTTP API uses, so a change ends sessions exactly as it does there. Each command says what
//! it did and to which database.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, bail};
use sea_orm::DatabaseConnection;

use crate::{
    auth::PasswordHasher,
    cli::UsersCommand,
    config::Settings,
    db,
    django_import::{self, Source},
    domain::{Email, FieldErrors, GstNo, Password, Role, Username},
    entity::user,
    refresh::RefreshStore,
    startup::refresh_store,
    users::{self, AccountChange, AccountChanges, ChangeError, CreateUserError, NewUser},
};

/// Django's `changepassword` gives up after this many tries.
const PASSWORD_TRIES: usize = 3;

pub async fn run(command: UsersCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            username,
            email,
            role,
            gst_no,
            password_stdin,
            ..
        } => create(settings, username, email, role, gst_no, password_stdin).await,
        UsersCommand::ImportDjango {
            source,
            table,
            model,
            ..
        } => import_django(settings, &source, &table, &model).await,
        UsersCommand::List {
            page, page_size, ..
        } => list(settings, page, page_size).await,
        UsersCommand::SetActive { user, active, .. } => {
            let accounts = Accounts::open(settings).await?;
            let account = accounts.find(&user).await?;
            let change = AccountChange {
                is_active: Some(active),
                ..AccountChange::default()
            };
            let (account, ended) = accounts.update(account.id, change).await?;
            let what = if account.is_active {
                "activated"
            } else {
                "deactivated"
            };
            println!(
                "{what} {} in {}; {}",
                describe_account(&account),
                accounts.database,
                ended_sessions(ended)
            );
            Ok(())
        }
        UsersCommand::SetRole { user, role, .. } => {
            let role = Role::parse_account_role(&role)
                .map_err(|e| anyhow::anyhow!("role: {}", e.message))?;
            let accounts = Accounts::open(settings).await?;
            let account = accounts.find(&user).await?;
            let change = AccountChange {
                role: Some(role),
                ..AccountChange::default()
            };
            let (account, ended) = accounts.update(account.id, change).await?;
            println!(
                "{} is {} now in {}; {}",
                describe_account(&account),
                account.role,
                accounts.database,
                ended_sessions(ended)
            );
            Ok(())
        }
        UsersCommand::SetPassword {
            user,
            password_stdin,
            ..
        } => {
            let accounts = Accounts::open(settings).await?;
            let account = accounts.find(&user).await?;
            println!("Changing the password of {}", describe_account(&account));
            let password = new_password(password_stdin, &[&account.username, &account.email])?;
            let hash = PasswordHasher::new(settings.hash_cost, 1)?
                .hash(password)
                .await?;
            let ended = accounts
                .changes()
                .set_password(account.id, hash, None)
                .await
                .map_err(change_failed)?;
            println!(
                "password of {} set in {}; {}",
                describe_account(&account),
                accounts.database,
                ended_sessions(ended)
            );
            Ok(())
        }
        UsersCommand::Logout { user, .. } => {
            let accounts = Accounts::open(settings).await?;
            let account = accounts.find(&user).await?;
            let ended = accounts
                .changes()
                .log_out(account.id, None)
                .await
                .map_err(change_failed)?;
            println!(
                "{} of {} ({})",
                ended_sessions(ended),
                describe_account(&account),
                accounts.sessions_in
            );
            Ok(())
        }
    }
}

/// The accounts database and the session store, as the running service has them.
struct Accounts {
    db: DatabaseConnection,
    sessions: std::sync::Arc<dyn RefreshStore>,
    /// Where the accounts are, for messages: a file path or `host:port`.
    database: String,
    /// Where the sessions are, likewise.
    sessions_in: String,
}

impl Accounts {
    async fn open(settings: &Settings) -> anyhow::Result<Self> {
        let db = db::connect(&settings.database_url).await?;
        db::migrate(&db).await?;
        let sessions = refresh_store(settings, &db)?;
        let database = db::endpoint(&settings.database_url);
        let sessions_in = match &settings.redis_url {
            Some(url) => format!("sessions in Redis at {}", db::endpoint(url)),
            None => format!("sessions in {database}"),
        };
        Ok(Self {
            db,
            sessions,
            database,
            sessions_in,
        })
    }

    fn changes(&self) -> AccountChanges<'_> {
        AccountChanges {
            db: &self.db,
            sessions: self.sessions.as_ref(),
        }
    }

    /// An account by username, or else, when `user` is all digits, by id: a username that
    /// looks like a number (`42`) names its own account, never account 42.
    async fn find(&self, user: &str) -> anyhow::Result<user::Model> {
        let mut found = users::find_by_username(&self.db, user).await?;
        if found.is_none()
            && !user.is_empty()
            && user.bytes().all(|b| b.is_ascii_digit())
            && let Ok(id) = user.parse::<i64>()
        {
            found = users::find(&self.db, id).await?;
        }
        found.ok_or_else(|| anyhow::anyhow!("no account {user:?} in {}", self.database))
    }

    async fn update(&self, id: i64, change: AccountChange) -> anyhow::Result<(user::Model, u64)> {
        self.changes()
            .update(id, change)
            .await
            .map_err(change_failed)
    }
}

fn describe_account(account: &user::Model) -> String {
    format!("{:?} (id {})", account.username, account.id)
}

fn ended_sessions(ended: u64) -> String {
    match ended {
        1 => "ended 1 session".into(),
        n => format!("ended {n} sessions"),
    }
}

fn field_messages(fields: FieldErrors) -> String {
    fields
        .into_map()
        .into_iter()
        .map(|(field, messages)| format!("{field}: {}", messages.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn change_failed(error: ChangeError) -> anyhow::Error {
    match error {
        ChangeError::NotFound => anyhow::anyhow!("the account no longer exists"),
        ChangeError::Refused(fields) => anyhow::anyhow!("{}", field_messages(fields)),
        ChangeError::SessionsNotEnded(cause) => anyhow::anyhow!(
            "the session store is unavailable ({cause}): run the command again once it is back, \
             to end the account's sessions"
        ),
        ChangeError::Unexpected(cause) => cause,
    }
}

async fn list(settings: &Settings, page: u64, page_size: u64) -> anyhow::Result<()> {
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    let page = page.max(1);
    let page_size = page_size.clamp(1, 100);
    let (count, accounts) = users::page(&db, page_size, |_| Ok(page - 1))
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!(
        "{:>8}  {:<24} {:<32} {:<8} {:<6} LAST LOGIN",
        "ID", "USERNAME", "EMAIL", "ROLE", "ACTIVE"
    );
    for account in &accounts {
        println!(
            "{:>8}  {:<24} {:<32} {:<8} {:<6} {}",
            account.id,
            account.username,
            account.email,
            account.role,
            if account.is_active { "yes" } else { "no" },
            account
                .last_login
                .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339()),
        );
    }
    let pages = count.div_ceil(page_size).max(1);
    println!(
        "page {page} of {pages}, {count} accounts in {}",
        db::endpoint(&settings.database_url)
    );
    Ok(())
}

async fn create(
    settings: &Settings,
    username: String,
    email: Option<String>,
    role: String,
    gst_no: Option<String>,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let username =
        Username::parse(&username).map_err(|e| anyhow::anyhow!("username: {}", e.message))?;
    let email = email
        .map(|raw| Email::parse(&raw))
        .transpose()
        .map_err(|e| anyhow::anyhow!("email: {}", e.message))?;
    let role =
        Role::parse_account_role(&role).map_err(|e| anyhow::anyhow!("role: {}", e.message))?;
    let gst_no = gst_no
        .map(|raw| GstNo::parse(&raw))
        .transpose()
        .map_err(|e| anyhow::anyhow!("gst_no: {}", e.message))?;
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    let new_user = NewUser {
        username,
        email,
        gst_no,
        role,
        is_active: true,
    };
    // Before the password is asked for: a taken name is known at once.
    users::check_available(&db, &new_user)
        .await
        .map_err(create_failed)?;
    let mut attributes = vec![new_user.username.as_ref()];
    if let Some(email) = &new_user.email {
        attributes.push(email.as_ref());
    }
    let password = new_password(password_stdin, &attributes)?;
    let hash = PasswordHasher::new(settings.hash_cost, 1)?
        .hash(password)
        .await?;
    let created = users::insert(&db, new_user, hash)
        .await
        .map_err(create_failed)?;
    println!(
        "created {} account {:?} with id {} in {}",
        created.role,
        created.username,
        created.id,
        db::endpoint(&settings.database_url)
    );
    Ok(())
}

fn create_failed(error: CreateUserError) -> anyhow::Error {
    match error {
        CreateUserError::Taken(fields) => anyhow::anyhow!("{}", field_messages(fields)),
        CreateUserError::Unexpected(cause) => cause,
    }
}

async fn import_django(
    settings: &Settings,
    source: &str,
    table: &str,
    model: &str,
) -> anyhow::Result<()> {
    let django_users = django_import::read_users(&Source::parse(source)?, table, model).await?;
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    let report = django_import::import(&db, django_users).await?;
    for (username, id, why) in &report.skipped {
        eprintln!("skipped {username:?} (id {id}): {why}");
    }
    println!(
        "imported {}, unchanged {}, skipped {} into {}",
        report.imported,
        report.unchanged,
        report.skipped.len(),
        db::endpoint(&settings.database_url)
    );
    if report.without_usable_password > 0 {
        eprintln!(
            "{} imported users have no password Tessera can check (unusable, scrypt, a legacy \
             MD5/SHA-1/crypt hash, or a cost beyond reason): they cannot log in until they are \
             given a new one",
            report.without_usable_password
        );
    }
    if !report.skipped.is_empty() {
        bail!("{} users were not imported", report.skipped.len());
    }
    Ok(())
}

/// A new password that passes Django's validators against `attributes`. With
/// `--password-stdin`, the first line of standard input, once. Otherwise asked for twice (from
/// the terminal, unechoed, or from standard input's lines when it is not one), and asked again,
/// up to three times, on a mismatch or a refused password, as Django's `changepassword` does.
fn new_password(password_stdin: bool, attributes: &[&str]) -> anyhow::Result<Password> {
    let validated = |raw: &str| {
        Password::parse(raw, attributes).map_err(|errors| {
            let messages: Vec<String> = errors.into_iter().map(|e| e.message).collect();
            messages.join(" ")
        })
    };
    if password_stdin {
        let raw = read_line()?.context("no password on standard input")?;
        return validated(&raw).map_err(|why| anyhow::anyhow!("password: {why}"));
    }
    let prompt = |label: &str| -> anyhow::Result<String> {
        if std::io::stdin().is_terminal() {
            Ok(rpassword::prompt_password(label)?)
        } else {
            eprint!("{label}");
            std::io::stderr().flush().ok();
            read_line()?.context("standard input ended before the password was entered")
        }
    };
    for _ in 0..PASSWORD_TRIES {
        let first = prompt("Password: ")?;
        let again = prompt("Password (again): ")?;
        if first != again {
            eprintln!("Passwords do not match. Please try again.");
            continue;
        }
        match validated(&first) {
            Ok(password) => return Ok(password),
            Err(why) => eprintln!("{why}"),
        }
    }
    bail!("no password set after {PASSWORD_TRIES} attempts")
}

/// One line of standard input without its line ending; `None` at its end.
fn read_line() -> anyhow::Result<Option<String>> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading standard input")?;
    Ok((read > 0).then(|| line.trim_end_matches(['\r', '\n']).to_owned()))
}
