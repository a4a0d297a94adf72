//! What each subcommand does; `main` only parses and dispatches here.

mod clients;
mod users;

use anyhow::{Context, bail};

use crate::{
    cli::{Command, KeysCommand, OpenapiService},
    config::Settings,
    db,
    http::fit_connections_to_open_file_limit,
    keys::{KeyCipher, KeyStore, KeySummary},
    startup::{AuthApp, CustomersApp, auth_openapi, customers_openapi, document, jwks_settings},
};

pub async fn run(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve(_) => serve_all(&settings).await,
        Command::Auth(_) => serve_auth(&settings).await,
        Command::Customers(_) => serve_customers(&settings).await,
        Command::Migrate(_) => {
            let db = db::connect(&settings.database_url).await?;
            db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Users { command } => users::run(command, &settings).await,
        Command::Clients { command } => clients::run(command, &settings).await,
        Command::Keys {
            command: KeysCommand::List { .. },
        } => list_keys(&settings).await,
        Command::Keys {
            command: KeysCommand::Rotate { .. },
        } => rotate_keys(&settings).await,
        Command::Healthcheck { url } => {
            let client = reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(3))
                .build()?;
            let status = client
                .get(&url)
                .send()
                .await
                .with_context(|| format!("{url} does not answer"))?
                .status();
            if status.is_success() {
                Ok(())
            } else {
                bail!("{url} answered {status}")
            }
        }
        Command::Openapi { service, out } => {
            let document = match service {
                OpenapiService::Auth => document(&auth_openapi()),
                OpenapiService::Customers => document(&customers_openapi()),
            };
            match out {
                Some(path) => std::fs::write(&path, document + "\n")
                    .with_context(|| format!("cannot write {}", path.display())),
                None => {
                    println!("{document}");
                    Ok(())
                }
            }
        }
    }
}

async fn serve_auth(settings: &Settings) -> anyhow::Result<()> {
    if settings.redis_url.is_none() {
        tracing::warn!(
            "TESSERA_REDIS_URL is not set: refresh sessions live in the SQL database. \
             Set it to keep them in Redis, as production deployments should"
        );
    }
    let settings = &fitted_to_open_files(settings, 1);
    let app = AuthApp::build(settings, false).await?;
    app.run(shutdown_signal()).await?;
    Ok(())
}

async fn serve_customers(settings: &Settings) -> anyhow::Result<()> {
    let jwks_url = settings.jwks_url.clone().ok_or_else(|| {
        anyhow::anyhow!("jwks_url: `tessera customers` needs --jwks-url or TESSERA_JWKS_URL")
    })?;
    let settings = &fitted_to_open_files(settings, 1);
    let app = CustomersApp::build(settings, jwks_settings(settings, jwks_url)).await?;
    app.run(shutdown_signal()).await?;
    Ok(())
}

/// `settings` with `max_connections` lowered, if need be, so that `services` servers at their
/// cap, and admin listeners at theirs, do not run the process out of file descriptors.
fn fitted_to_open_files(settings: &Settings, services: u64) -> Settings {
    let mut settings = settings.clone();
    let admin_listeners = [settings.admin_listen, settings.customers_admin_listen]
        .iter()
        .flatten()
        .count() as u64;
    let admin_fds = admin_listeners * (crate::startup::ADMIN_MAX_CONNECTIONS as u64 + 1);
    settings.connections.max_connections = fit_connections_to_open_file_limit(
        settings.connections.max_connections,
        services,
        admin_fds,
    );
    settings
}

/// The quick start: both services in one process. The customer service still verifies through
/// the token service's JWKS URL over HTTP, exactly as when they run apart.
async fn serve_all(settings: &Settings) -> anyhow::Result<()> {
    let settings = &fitted_to_open_files(settings, 2);
    let auth = AuthApp::build(settings, true).await?;
    let jwks_url = settings
        .jwks_url
        .clone()
        .unwrap_or_else(|| format!("{}/.well-known/jwks.json", auth.state().public_url));
    let customers = CustomersApp::build(settings, jwks_settings(settings, jwks_url)).await?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let mut auth = tokio::spawn(auth.run(wait(stopped.clone())));
    let mut customers = tokio::spawn(customers.run(wait(stopped)));
    // Supervised: if either server ends by itself, the other is stopped and the process ends
    // saying which, rather than living on half-served.
    let ended_alone = tokio::select! {
        () = shutdown_signal() => None,
        ended = &mut auth => Some(("token service", ended)),
        ended = &mut customers => Some(("customer service", ended)),
    };
    let _ = stop.send(true);
    let Some((service, ended)) = ended_alone else {
        auth.await??;
        customers.await??;
        return Ok(());
    };
    let other = if service == "token service" {
        customers
    } else {
        auth
    };
    let _ = other.await;
    Err(match ended {
        Ok(Ok(())) => anyhow::anyhow!("the {service} stopped unexpectedly"),
        Ok(Err(err)) => anyhow::anyhow!("the {service} stopped: {err}"),
        Err(err) => anyhow::anyhow!("the {service} failed: {err}"),
    })
}

/// SIGINT or SIGTERM: stop accepting, let in-flight requests finish.
pub async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down");
}

async fn rotate_keys(settings: &Settings) -> anyhow::Result<()> {
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    let store = KeyStore::new(db, KeyCipher::new(&settings.key_secret(false)?));
    let signs_from = chrono::Utc::now() + chrono::Duration::from_std(settings.key_prepublish)?;
    let lifetimes = settings.lifetimes;
    // Older keys must outlive every token they signed: the longest lifetime of any kind.
    let outlives = [
        lifetimes.access,
        lifetimes.refresh,
        lifetimes.anonymous_access,
        lifetimes.anonymous_refresh,
    ]
    .into_iter()
    .max()
    .unwrap_or_default();
    match store.rotate(signs_from, outlives).await? {
        Some(kid) => {
            let retire = signs_from + chrono::Duration::from_std(outlives)?;
            // Running instances read the keys every key_reload_interval: until then their JWKS
            // lacks the new key, which is why it signs only after key_prepublish.
            println!(
                "new key {kid}: in every instance's JWKS within {} (key_reload_interval), signing from {}",
                humantime::format_duration(settings.key_reload_interval),
                signs_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            println!(
                "older keys leave the JWKS at {}",
                retire.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            );
            Ok(())
        }
        None => bail!(
            "another rotation made the same generation at the same time; see `tessera keys list`"
        ),
    }
}

async fn list_keys(settings: &Settings) -> anyhow::Result<()> {
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    // Listing reads no private part, so any cipher will do; the real one is not needed.
    let store = KeyStore::new(db, KeyCipher::new(&crate::keys::KeySecret::generate()));
    let now = chrono::Utc::now();
    let keys = store.list().await?;
    let published = |key: &&KeySummary| key.retires_at.is_none_or(|at| at > now);
    // The signer: the newest published key whose signing time has come (as KeyStore::load picks).
    let signing = keys
        .iter()
        .filter(published)
        .filter(|key| key.signs_from <= now)
        .max_by_key(|key| key.generation)
        .map(|key| key.generation);
    println!(
        "{:<45} {:>3}  {:<9} {:<32} {:<32}",
        "KID", "GEN", "STATE", "SIGNS FROM", "LEAVES THE JWKS AT"
    );
    for key in &keys {
        let state = if !published(&key) {
            "retired"
        } else if Some(key.generation) == signing {
            "active"
        } else if key.signs_from > now {
            "pending"
        } else {
            "retiring"
        };
        println!(
            "{:<45} {:>3}  {:<9} {:<32} {:<32}",
            key.kid,
            key.generation,
            state,
            // The first key signs from the start: stored as the epoch, shown as what it means.
            if key.signs_from.timestamp() == 0 {
                "from the start".into()
            } else {
                key.signs_from
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            },
            key.retires_at
                .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "-".into()),
        );
    }
    Ok(())
}
