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
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        /// customer, staff or admin
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long)]
        gst_no: Option<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
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
