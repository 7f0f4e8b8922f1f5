//! sai over HTTP: the backend a device uploads its intents to and downloads its rows from, and
//! the device-side transport that talks to it.
//!
//! - [`server`]: an axum [`Router`](axum::Router) you mount in your own server
//!   ([`SyncBackend::router`](server::SyncBackend::router)), with an upload endpoint that
//!   follows PowerSync's write-path contract and an incremental download endpoint (the
//!   changes after the device's cursor, page by page) for deployments without the PowerSync
//!   service; [`serve`] runs it with graceful shutdown.
//! - [`auth`]: JWT verification, HS256 with a shared secret or a JWKS URL (EdDSA, RS256),
//!   checking the audience and the expiry; the token's `sub` is the user.
//! - [`device`]: [`HttpDevice`], which uploads a
//!   [`ClientStore`](sai::client::ClientStore)'s pending intents and downloads the changes
//!   after its durable cursor, each page in one transaction, retrying with exponential
//!   backoff.
//! - [`wire`]: the request and response bodies both sides share.
//!
//! # The upload contract
//!
//! As PowerSync's own backend contract says: the endpoint authenticates the same JWT the
//! PowerSync service accepts and applies each upload idempotently and synchronously to the
//! database ([`sai::server::ingest`]). Then:
//!
//! | answer | when | the device |
//! |---|---|---|
//! | 2xx | stored, or stored already (a repeated upload) | moves on; a domain rejection is decided later and syncs back |
//! | 401 | no token, or one expired, wrongly signed or for another audience; nothing is written | stops the round (get a new token) |
//! | 403 | the upload is for a client bound to another user, or names another user | completes the batch |
//! | 409 `sequence_taken` | a restored or cloned device reused a decided sequence number | renumbers its pending intents and uploads again |
//! | other 4xx | a malformed batch (the JSON error body names the problem) | completes the batch: it moves past it, never sends it again |
//! | 5xx | the database failed transiently (or a backend went away) | retries the whole batch with backoff |
//!
//! # Why a crate and not a feature of `sai`
//!
//! axum, hyper, jsonwebtoken with its RSA and Ed25519 code, and an HTTP client (reqwest) are a
//! large dependency tree that neither an embedded app (`Loopback`) nor a PowerSync app needs:
//! in a crate of its own they stay out of `sai`'s build, its feature matrix and its MSRV
//! checks, and this crate can move to new major versions of them on its own schedule. It
//! uses only `sai`'s public API.

pub mod auth;
pub mod device;
pub mod server;
pub mod wire;

pub use auth::{AuthError, JwtVerifier};
pub use device::{HttpDevice, RetryPolicy, TransportError};
pub use server::{BackendConfig, SyncBackend, serve};
