//! `tessera clients ...`: OAuth 2.0 service clients from the command line, through the
//! `clients` module the token endpoint uses. A secret is printed once, when it is made.

use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::{
    cli::ClientsCommand,
    clients::{self, Client, ClientSecret, CreateClientError},
    config::Settings,
    db,
    domain::{ClientName, Scopes},
};

pub async fn run(command: ClientsCommand, settings: &Settings) -> anyhow::Result<()> {
    let db = db::connect(&settings.database_url).await?;
    db::migrate(&db).await?;
    let database = db::endpoint(&settings.database_url);
    match command {
        ClientsCommand::Create { name, scopes, .. } => {
            let name =
                ClientName::parse(&name).map_err(|e| anyhow::anyhow!("name: {}", e.message))?;
            let scopes =
                Scopes::parse(&scopes).map_err(|problem| anyhow::anyhow!("scopes: {problem}"))?;
            let (client, secret) =
                clients::create(&db, name, scopes)
                    .await
                    .map_err(|err| match err {
                        CreateClientError::NameTaken(_) => anyhow::anyhow!("{err} in {database}"),
                        CreateClientError::Unexpected(cause) => cause,
                    })?;
            println!("created client {:?} in {database}", client.name);
            print_credentials(&client, &secret);
            Ok(())
        }
        ClientsCommand::List { .. } => {
            let clients = clients::list(&db).await?;
            if clients.is_empty() {
                println!("no clients in {database}");
            }
            for client in clients {
                println!(
                    "{}  {:<20} {:<8}  scopes: {:<40} secret set {}",
                    client.client_id,
                    client.name,
                    if client.is_active {
                        "active"
                    } else {
                        "disabled"
                    },
                    client.scopes.to_string(),
                    client.secret_set_at.format("%Y-%m-%d %H:%M:%S UTC"),
                );
            }
            Ok(())
        }
        ClientsCommand::RotateSecret { client, .. } => {
            let client = find(&db, &client, &database).await?;
            let secret = clients::rotate_secret(&db, &client).await?;
            println!(
                "new secret for client {:?} in {database}; the old one no longer works",
                client.name
            );
            print_credentials(&client, &secret);
            Ok(())
        }
        ClientsCommand::SetActive { client, active, .. } => {
            let client = find(&db, &client, &database).await?;
            clients::set_active(&db, &client, active).await?;
            let what = if active { "enabled" } else { "disabled" };
            println!(
                "{what} client {:?} ({}) in {database}",
                client.name, client.client_id
            );
            Ok(())
        }
        ClientsCommand::Delete { client, .. } => {
            let client = find(&db, &client, &database).await?;
            clients::delete(&db, &client).await?;
            println!(
                "deleted client {:?} ({}) from {database}",
                client.name, client.client_id
            );
            Ok(())
        }
    }
}

async fn find(db: &DatabaseConnection, client: &str, database: &str) -> anyhow::Result<Client> {
    clients::find(db, client)
        .await?
        .with_context(|| format!("no client {client:?} in {database}"))
}

/// One `name: value` per line, for people and for `awk '/^client_secret:/ {print $2}'`.
fn print_credentials(client: &Client, secret: &ClientSecret) {
    println!("client_id:     {}", client.client_id);
    println!("client_secret: {}", secret.expose());
    println!("scopes:        {}", client.scopes);
    println!("The secret is shown only now: store it where the service reads its settings.");
}
