//! Opening real PowerSync databases in tests.

use std::path::Path;

use async_trait::async_trait;
use powersync::env::PowerSyncEnvironment;
use powersync::error::PowerSyncError;
use powersync::http::{HttpClient, Request, Response, ResponseBody};
use powersync::{ConnectionPool, PowerSyncDatabase};

/// An HTTP client for a database that never connects: every request gets a 404.
pub struct Offline;

#[async_trait]
impl HttpClient for Offline {
    async fn send(&self, _: Request) -> Result<Response, PowerSyncError> {
        Ok(Response {
            status: 404,
            content_type: None,
            body: ResponseBody {
                reader: Box::pin(futures_lite::stream::empty()),
                length: Some(0),
            },
        })
    }
}

/// A PowerSync database in the file `path` with the given schema, using `client` for HTTP.
pub fn open(
    path: &Path,
    schema: powersync::schema::Schema,
    client: impl HttpClient,
) -> PowerSyncDatabase {
    PowerSyncEnvironment::powersync_auto_extension().expect("load the PowerSync core");
    let pool = ConnectionPool::open(path).expect("open the database file");
    let env = PowerSyncEnvironment::custom(client, pool, PowerSyncEnvironment::tokio_timer());
    PowerSyncDatabase::new(env, schema)
}
