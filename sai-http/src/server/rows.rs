//! Where the download endpoint reads a user's rows: a small trait, so the source (today the
//! full row set through `sai::sync`, later an incremental change cursor) is one type to swap.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use sai::Domain;
use sai::schema::Schema;
use sai::server::BoxError;
use sai::sync::{SyncRow, postgres_rows_for_user};
use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls};

/// A boxed future, as [`RowSource`] returns (the trait is used as a trait object).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Reads everything a user may download of one domain: the rows PowerSync's sync rules
/// would select.
pub trait RowSource: Send + Sync + 'static {
    /// `user`'s rows.
    fn rows_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SyncRow>, BoxError>>;
}

/// A domain's downloadable rows in PostgreSQL, read on a connection of its own (reopened
/// after it drops). Concurrent downloads share it: tokio-postgres pipelines their queries.
pub struct PostgresRows {
    url: String,
    search_path: Option<String>,
    schema: Schema,
    client: RwLock<Option<Arc<Client>>>,
}

impl std::fmt::Debug for PostgresRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresRows")
            .field("search_path", &self.search_path)
            .finish_non_exhaustive()
    }
}

impl PostgresRows {
    /// Reads domain `D`'s rows from the database at `url` (connected on first use), in the
    /// PostgreSQL schema `search_path` if given (as `PostgresStore::connect_in_schema`).
    pub fn new<D: Domain>(url: impl Into<String>, search_path: Option<String>) -> Self {
        PostgresRows {
            url: url.into(),
            search_path,
            schema: Schema::of::<D>(),
            client: RwLock::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, BoxError> {
        if let Some(client) = self.client.read().await.as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let mut slot = self.client.write().await;
        if let Some(client) = slot.as_ref()
            && !client.is_closed()
        {
            return Ok(Arc::clone(client));
        }
        let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        if let Some(path) = &self.search_path {
            client
                .batch_execute(&format!(
                    "SET search_path TO \"{}\"",
                    path.replace('"', "\"\"")
                ))
                .await?;
        }
        let client = Arc::new(client);
        *slot = Some(Arc::clone(&client));
        Ok(client)
    }
}

impl RowSource for PostgresRows {
    fn rows_for_user<'a>(&'a self, user: &'a str) -> BoxFuture<'a, Result<Vec<SyncRow>, BoxError>> {
        Box::pin(async move {
            let client = self.client().await?;
            Ok(postgres_rows_for_user(&client, &self.schema, user).await?)
        })
    }
}
