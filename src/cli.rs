//! The `tessera` command line: one binary, a subcommand per role (Hydra's `serve`, Vault's dev mode).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{
    CommonArgs, CustomerServiceArgs, DatabaseArgs, HashingArgs, HttpArgs, KeyArgs, LifetimeArgs,
    SessionStoreArgs, SettingsArgs, TokenArgs, TokenServiceArgs,
};

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "RS256 token service with a JWKS, for simplejwt clients"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line and the `TESSERA_*` environment, parsed; on an error, the message and
    /// exit code clap gives, except that a bad value read from the environment is reported
    /// under the variable's name: clap names the flag, which the operator never typed.
    pub fn parse_or_exit() -> Self {
        Self::try_parse_from(std::env::args_os()).unwrap_or_else(|err| {
            let typed: Vec<String> = std::env::args_os()
                .map(|arg| arg.to_string_lossy().into_owned())
                .collect();
            let Some(message) = environment_error(&err, &typed) else {
                err.exit()
            };
            eprintln!("{message}");
            std::process::exit(err.exit_code())
        })
    }
}

/// `err` reworded to name the environment variable its bad value came from, if it came from
/// one: a flag that takes a value from the environment and was not among the `typed` arguments.
fn environment_error(err: &clap::Error, typed: &[String]) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(flag)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = flag.strip_prefix("--")?.split([' ', '=']).next()?;
    let spelled = format!("--{long}");
    if typed
        .iter()
        .any(|arg| arg == &spelled || arg.starts_with(&format!("{spelled}=")))
    {
        return None;
    }
    let variable = env_of(&<Cli as clap::CommandFactory>::command(), long)?;
    Some(
        err.render()
            .to_string()
            .replacen(
                &format!("'{flag}'"),
                &format!("{variable} (environment)"),
                1,
            )
            .trim_end()
            .to_owned(),
    )
}

/// The environment variable behind `--long`, wherever in the command tree it is defined.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|variable| variable.to_string_lossy().into_owned())
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|subcommand| env_of(subcommand, long))
        })
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Quick start: the token service (:7001) and the customer service (:7002) on the embedded
    /// defaults (SQLite under ./data, generated key secret).
    Serve(ServeSettings),
    /// The token service alone, for production: the key secret must be configured.
    Auth(AuthSettings),
    /// The customer service alone; it trusts the tokens the JWKS at --jwks-url verifies.
    Customers(CustomersSettings),
    /// Apply database migrations and exit.
    Migrate(DatabaseSettings),
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
    },
    /// Manage OAuth 2.0 service clients (the client_credentials grant).
    Clients {
        #[command(subcommand)]
        command: ClientsCommand,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Exit 0 if URL answers 2xx within 3 s, else 1: a container HEALTHCHECK that needs no curl.
    Healthcheck { url: String },
    /// Print an OpenAPI document.
    Openapi {
        #[arg(value_enum)]
        service: OpenapiService,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

impl Command {
    /// The flags and environment variables this command took; commands that read no settings
    /// get the defaults.
    pub fn settings(&self) -> SettingsArgs {
        match self {
            Command::Serve(settings) => settings.clone().into(),
            Command::Auth(settings) => settings.clone().into(),
            Command::Customers(settings) => settings.clone().into(),
            Command::Migrate(settings) => settings.clone().into(),
            Command::Users { command } => match command {
                UsersCommand::Create { settings, .. } => settings.clone().into(),
                UsersCommand::SetPassword { settings, .. } => settings.clone().into(),
                UsersCommand::SetActive { settings, .. }
                | UsersCommand::SetRole { settings, .. }
                | UsersCommand::Logout { settings, .. } => settings.clone().into(),
                UsersCommand::List { settings, .. }
                | UsersCommand::ImportDjango { settings, .. } => settings.clone().into(),
            },
            Command::Clients { command } => match command {
                ClientsCommand::Create { settings, .. }
                | ClientsCommand::List { settings }
                | ClientsCommand::RotateSecret { settings, .. }
                | ClientsCommand::SetActive { settings, .. }
                | ClientsCommand::Delete { settings, .. } => settings.clone().into(),
            },
            Command::Keys { command } => match command {
                KeysCommand::List { settings } => settings.clone().into(),
                KeysCommand::Rotate { settings } => settings.clone().into(),
            },
            Command::Healthcheck { .. } | Command::Openapi { .. } => SettingsArgs::default(),
        }
    }
}

/// A command's settings: the groups it reads, flattened into its flags.
macro_rules! command_settings {
    ($name:ident { $($group:ident: $args:ty),* $(,)? }) => {
        #[derive(Debug, Clone, Default, Args)]
        pub struct $name {
            $(
                #[command(flatten)]
                pub $group: $args,
            )*
        }

        impl From<$name> for SettingsArgs {
            fn from(settings: $name) -> Self {
                let mut args = SettingsArgs::default();
                $(settings.$group.apply(&mut args);)*
                args
            }
        }
    };
}

command_settings!(ServeSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    sessions: SessionStoreArgs,
    hashing: HashingArgs,
    keys: KeyArgs,
    lifetimes: LifetimeArgs,
    tokens: TokenArgs,
    token_service: TokenServiceArgs,
    customer_service: CustomerServiceArgs,
    http: HttpArgs,
});
command_settings!(AuthSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    sessions: SessionStoreArgs,
    hashing: HashingArgs,
    keys: KeyArgs,
    lifetimes: LifetimeArgs,
    tokens: TokenArgs,
    token_service: TokenServiceArgs,
    http: HttpArgs,
});
command_settings!(CustomersSettings {
    common: CommonArgs,
    tokens: TokenArgs,
    customer_service: CustomerServiceArgs,
    http: HttpArgs,
});
// migrate, users list and import-django, keys list: the database alone.
command_settings!(DatabaseSettings {
    common: CommonArgs,
    database: DatabaseArgs,
});
// users create: where the account goes, and the cost of hashing its password.
command_settings!(NewAccountSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    hashing: HashingArgs,
});
// users set-active, set-role, logout: a change that ends the account's sessions.
command_settings!(AccountChangeSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    sessions: SessionStoreArgs,
});
// users set-password: a new hash, and every session ends.
command_settings!(PasswordSetSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    sessions: SessionStoreArgs,
    hashing: HashingArgs,
});
// keys rotate: older keys stay until every token they signed has expired, hence the lifetimes.
command_settings!(KeyRotationSettings {
    common: CommonArgs,
    database: DatabaseArgs,
    keys: KeyArgs,
    lifetimes: LifetimeArgs,
});

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create an account (Django's createsuperuser). The password is prompted for, or read from
    /// standard input with --password-stdin; never from the command line.
    Create {
        /// 1-150 letters, digits and @.+-_
        #[arg(long)]
        username: String,
        /// Unique ignoring case.
        #[arg(long)]
        email: Option<String>,
        /// customer, staff or admin
        #[arg(long, default_value = "admin")]
        role: String,
        /// GST registration number, for customers.
        #[arg(long)]
        gst_no: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        settings: NewAccountSettings,
    },
    /// List accounts, oldest first, a page at a time.
    List {
        /// Which page, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Accounts per page (at most 100).
        #[arg(long, default_value_t = 50)]
        page_size: u64,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// Activate or deactivate an account. Deactivating ends all its sessions at once; the last
    /// active admin cannot be deactivated.
    SetActive {
        /// The account's username (or its id, if no username is that number).
        user: String,
        /// true or false (also yes/no, 1/0).
        #[arg(action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        active: bool,
        #[command(flatten)]
        settings: AccountChangeSettings,
    },
    /// Change an account's role (customer, staff or admin); all its sessions end.
    SetRole {
        /// The account's username (or its id, if no username is that number).
        user: String,
        role: String,
        #[command(flatten)]
        settings: AccountChangeSettings,
    },
    /// Set an account's password (Django's changepassword): asked for twice, and again on a
    /// mismatch or a password the validators refuse; or read from standard input with
    /// --password-stdin. All its sessions end.
    SetPassword {
        /// The account's username (or its id, if no username is that number).
        user: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        settings: PasswordSetSettings,
    },
    /// Log an account out everywhere: end every session it has.
    Logout {
        /// The account's username (or its id, if no username is that number).
        user: String,
        #[command(flatten)]
        settings: AccountChangeSettings,
    },
    /// Import a Django project's users: ids, usernames, emails, flags (is_superuser -> admin,
    /// is_staff -> staff), dates and password hashes as they are. Users already imported are
    /// left alone; users whose id, username or email another account holds are listed and
    /// make the exit status 1.
    ImportDjango {
        /// `sqlite:///path/db.sqlite3`, `postgres://user:pass@host/db`, or the JSON file
        /// `manage.py dumpdata auth.user` wrote.
        source: String,
        /// The user table in a database source (a custom user model's, say).
        #[arg(long, default_value = "auth_user")]
        table: String,
        /// The model in a dumpdata source.
        #[arg(long, default_value = "auth.user")]
        model: String,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a service client: prints its client_id and a generated client_secret, once
    /// (only a digest of the secret is stored).
    Create {
        /// Unique among clients, for people: `billing`, `reports`.
        #[arg(long)]
        name: String,
        /// What its tokens may do, space-separated: `customers:read customers:write`.
        #[arg(long, default_value = "")]
        scopes: String,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// List clients (never their secrets).
    List {
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// Give a client a new secret, printed once; the old one stops working at once.
    RotateSecret {
        /// The client's client_id or name.
        client: String,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// Enable or disable a client: a disabled client gets no token, and its tokens introspect
    /// as inactive (JWKS consumers accept them until they expire).
    SetActive {
        /// The client's client_id or name.
        client: String,
        /// true or false (also yes/no, 1/0).
        #[arg(action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        active: bool,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// Delete a client, as disabling does but for good.
    Delete {
        /// The client's client_id or name.
        client: String,
        #[command(flatten)]
        settings: DatabaseSettings,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their dates (never their private parts).
    List {
        #[command(flatten)]
        settings: DatabaseSettings,
    },
    /// Make a new signing key: published now, signing after the pre-publication delay
    /// (`key_prepublish`); older keys stay published until every token they signed has expired.
    Rotate {
        #[command(flatten)]
        settings: KeyRotationSettings,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpenapiService {
    Auth,
    Customers,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use clap::{Args, CommandFactory};

    use super::*;

    /// clap checks a command's definition only when it is parsed in a debug build: check every
    /// subcommand here, not on a user's first run of it.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    fn long_flags(command: &clap::Command) -> BTreeSet<String> {
        command
            .get_arguments()
            .filter_map(|arg| arg.get_long())
            .map(String::from)
            .collect()
    }

    fn group<G: Args>() -> BTreeSet<String> {
        long_flags(&G::augment_args(clap::Command::new("group")))
    }

    /// Each row: the settings groups the command's code reads from `Settings`. A command's help
    /// lists those and no others (a listener's timeouts in `users create --help` are noise).
    #[test]
    fn each_command_lists_only_the_settings_it_reads() {
        let [
            common,
            database,
            sessions,
            hashing,
            keys,
            lifetimes,
            tokens,
            token_service,
            customer_service,
            http,
        ] = [
            group::<CommonArgs>(),
            group::<DatabaseArgs>(),
            group::<SessionStoreArgs>(),
            group::<HashingArgs>(),
            group::<KeyArgs>(),
            group::<LifetimeArgs>(),
            group::<TokenArgs>(),
            group::<TokenServiceArgs>(),
            group::<CustomerServiceArgs>(),
            group::<HttpArgs>(),
        ];
        let every_setting: BTreeSet<String> = [
            &common,
            &database,
            &sessions,
            &hashing,
            &keys,
            &lifetimes,
            &tokens,
            &token_service,
            &customer_service,
            &http,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        let union = |groups: &[&BTreeSet<String>]| -> BTreeSet<String> {
            groups.iter().copied().flatten().cloned().collect()
        };
        let token_service_reads = [
            &common,
            &database,
            &sessions,
            &hashing,
            &keys,
            &lifetimes,
            &tokens,
            &token_service,
            &http,
        ];
        let expected: Vec<(&[&str], BTreeSet<String>)> = vec![
            (&["serve"], every_setting.clone()),
            (&["auth"], union(&token_service_reads)),
            (
                &["customers"],
                union(&[&common, &tokens, &customer_service, &http]),
            ),
            (&["migrate"], union(&[&common, &database])),
            (&["users", "create"], union(&[&common, &database, &hashing])),
            (&["users", "list"], union(&[&common, &database])),
            (&["users", "import-django"], union(&[&common, &database])),
            (
                &["users", "set-active"],
                union(&[&common, &database, &sessions]),
            ),
            (
                &["users", "set-role"],
                union(&[&common, &database, &sessions]),
            ),
            (
                &["users", "logout"],
                union(&[&common, &database, &sessions]),
            ),
            (
                &["users", "set-password"],
                union(&[&common, &database, &sessions, &hashing]),
            ),
            (&["clients", "create"], union(&[&common, &database])),
            (&["clients", "list"], union(&[&common, &database])),
            (&["clients", "rotate-secret"], union(&[&common, &database])),
            (&["clients", "set-active"], union(&[&common, &database])),
            (&["clients", "delete"], union(&[&common, &database])),
            (&["keys", "list"], union(&[&common, &database])),
            (
                &["keys", "rotate"],
                union(&[&common, &database, &keys, &lifetimes]),
            ),
            (&["healthcheck"], BTreeSet::new()),
            (&["openapi"], BTreeSet::new()),
        ];
        let mut cli = Cli::command();
        cli.build();
        for (path, settings) in expected {
            let command = path.iter().fold(&cli, |command, name| {
                command
                    .find_subcommand(name)
                    .unwrap_or_else(|| panic!("no command {path:?}"))
            });
            let listed: BTreeSet<String> = long_flags(command)
                .intersection(&every_setting)
                .cloned()
                .collect();
            assert_eq!(listed, settings, "tessera {}", path.join(" "));
        }
    }

    #[test]
    fn users_create_help_fits_on_a_screen() {
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("users")
            .and_then(|users| users.find_subcommand_mut("create"))
            .unwrap()
            .render_help()
            .to_string();
        assert!(help.lines().count() <= 30, "{help}");
    }
}
