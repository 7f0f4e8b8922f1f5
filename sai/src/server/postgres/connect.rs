//! How a [`PostgresStore`](super::PostgresStore) connects: the options a user sets, and the connector that opens
//! the first connection and every reconnection the same way (TLS included).

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use tokio_postgres::tls::{MakeTlsConnect, TlsConnect};
use tokio_postgres::{AsyncMessage, Client, Socket};

use super::super::wake::WakeHandle;

use crate::domain::Domain;

/// Opens a connection to a URL (and spawns its driver task): the same TLS setup for the first
/// connection and every reconnection. With a [`WakeHandle`], the driver rings it at every
/// notification the connection receives (a `LISTEN`ing connection).
pub(super) type Connector = Arc<
    dyn Fn(
            String,
            Option<WakeHandle>,
        ) -> Pin<Box<dyn Future<Output = Result<Client, tokio_postgres::Error>> + Send>>
        + Send
        + Sync,
>;

pub(super) fn connector<T>(tls: T) -> Connector
where
    T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
    T::Stream: Send + 'static,
    T::TlsConnect: Send,
    <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
{
    Arc::new(move |url: String, notified: Option<WakeHandle>| {
        let tls = tls.clone();
        Box::pin(async move {
            let (client, mut connection) = tokio_postgres::connect(&url, tls).await?;
            tokio::spawn(async move {
                // The connection ends when the client is dropped or the server goes away;
                // the next call sees `is_closed` and reconnects.
                let Some(notified) = notified else {
                    let _ = connection.await;
                    return;
                };
                while let Some(Ok(message)) =
                    std::future::poll_fn(|cx| connection.poll_message(cx)).await
                {
                    if let AsyncMessage::Notification(_) = message {
                        notified.wake();
                    }
                }
            });
            Ok(client)
        })
    })
}

/// How a [`PostgresStore`](super::PostgresStore) connects: the URL, optionally a schema and a TLS connector.
///
/// ```no_run
/// # async fn f<Task: sai::Domain>(tls: tokio_postgres::NoTls) -> Result<(), sai::server::StoreError> {
/// use sai::server::PostgresStore;
///
/// // `tls`: any tokio-postgres TLS connector, e.g. postgres-native-tls's `MakeTlsConnector`.
/// let store = PostgresStore::<Task>::options("postgres://app@db.example.com/app?sslmode=require")
///     .schema("tasks")
///     .tls(tls)
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
pub struct PostgresOptions<D> {
    pub(super) url: String,
    pub(super) schema: Option<String>,
    pub(super) connector: Connector,
    pub(super) domain: PhantomData<fn() -> D>,
}

impl<D> std::fmt::Debug for PostgresOptions<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

impl<D: Domain> PostgresOptions<D> {
    /// Keeps the domain's tables in `schema` (`SET search_path`), also after a reconnection.
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Connects through TLS with `tls` (any tokio-postgres `MakeTlsConnect`), for the first
    /// connection and every reconnection. Whether TLS is required follows the URL's
    /// `sslmode`. Without this, connections are plain TCP.
    pub fn tls<T>(mut self, tls: T) -> Self
    where
        T: MakeTlsConnect<Socket> + Clone + Send + Sync + 'static,
        T::Stream: Send + 'static,
        T::TlsConnect: Send,
        <T::TlsConnect as TlsConnect<Socket>>::Future: Send,
    {
        self.connector = connector(tls);
        self
    }
}
