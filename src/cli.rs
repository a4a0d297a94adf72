//! The `tessera` command line: one binary, a subcommand per role (Hydra's `serve`, Vault's dev mode).

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::SettingsArgs;

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "RS256 token service with a JWKS, for simplejwt clients"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Quick start: the token service (:7001) and the customer service (:7002) on the embedded
    /// defaults (SQLite under ./data, generated key secret).
    Serve,
    /// The token service alone, for production: the key secret must be configured.
    Auth,
    /// The customer service alone; it trusts the tokens the JWKS at --jwks-url verifies.
    Customers,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    Users {
        #[command(subcommand)]
        command: UsersCommand,
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
    },
    /// List accounts, oldest first, a page at a time.
    List {
        /// Which page, from 1.
        #[arg(long, default_value_t = 1)]
        page: u64,
        /// Accounts per page (at most 100).
        #[arg(long, default_value_t = 50)]
        page_size: u64,
    },
    /// Activate or deactivate an account. Deactivating ends all its sessions at once; the last
    /// active admin cannot be deactivated.
    SetActive {
        /// The account's username (or its id, if no username is that number).
        user: String,
        /// true or false (also yes/no, 1/0).
        #[arg(action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
        active: bool,
    },
    /// Change an account's role (customer, staff or admin); all its sessions end.
    SetRole {
        /// The account's username (or its id, if no username is that number).
        user: String,
        role: String,
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
    },
    /// Log an account out everywhere: end every session it has.
    Logout {
        /// The account's username (or its id, if no username is that number).
        user: String,
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
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their dates (never their private parts).
    List,
    /// Make a new signing key: published now, signing after the pre-publication delay
    /// (`key_prepublish`); older keys stay published until every token they signed has expired.
    Rotate,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum OpenapiService {
    Auth,
    Customers,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap checks a command's definition only when it is parsed in a debug build: check every
    /// subcommand here, not on a user's first run of it.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
