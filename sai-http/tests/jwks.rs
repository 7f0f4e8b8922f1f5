//! JWT verification against a JWKS served over real HTTP on 127.0.0.1: EdDSA and RS256 keys
//! selected by `kid`, cached, refetched for a new key, and every way a token is refused.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sai_http::auth::JwksOptions;
use sai_http::{AuthError, JwtVerifier};

use common::{AUDIENCE, now};

const RSA: &[u8] = include_bytes!("keys/rsa.pem");
const ED: &[u8] = include_bytes!("keys/ed.pem");
const ED_OTHER: &[u8] = include_bytes!("keys/ed2.pem");

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA).expect("rsa key")
}

fn ed_key(pem: &[u8]) -> EncodingKey {
    EncodingKey::from_ed_pem(pem).expect("ed key")
}

fn jwk(key: &EncodingKey, alg: Algorithm, kid: &str) -> Jwk {
    let mut jwk = Jwk::from_encoding_key(key, alg).expect("jwk");
    jwk.common.key_id = Some(kid.into());
    jwk
}

/// A JWKS server: its URL, the set it serves (changeable), and how often it was fetched.
struct KeyServer {
    url: String,
    keys: Arc<Mutex<JwkSet>>,
    fetches: Arc<AtomicUsize>,
}

async fn key_server(keys: Vec<Jwk>) -> KeyServer {
    let keys = Arc::new(Mutex::new(JwkSet { keys }));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (Arc::clone(&keys), Arc::clone(&fetches));
    let router = Router::new().route(
        "/.well-known/jwks.json",
        get(move || {
            let (k, f) = (Arc::clone(&k), Arc::clone(&f));
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let set = k.lock().unwrap().clone();
                axum::Json(set)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, router).await });
    KeyServer { url, keys, fetches }
}

fn signed(
    key: &EncodingKey,
    alg: Algorithm,
    kid: Option<&str>,
    claims: serde_json::Value,
) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, &claims, key).expect("sign")
}

fn alice(aud: &str, exp: i64) -> serde_json::Value {
    serde_json::json!({ "sub": "alice", "aud": aud, "exp": exp })
}

#[tokio::test]
async fn eddsa_and_rs256_tokens_verify_by_kid_and_every_bad_one_is_refused() {
    let server = key_server(vec![
        jwk(&ed_key(ED), Algorithm::EdDSA, "ed-1"),
        jwk(&rsa_key(), Algorithm::RS256, "rsa-1"),
    ])
    .await;
    let verifier = JwtVerifier::jwks(&server.url, AUDIENCE);
    let valid = alice(AUDIENCE, now() + 600);

    let ed = signed(&ed_key(ED), Algorithm::EdDSA, Some("ed-1"), valid.clone());
    assert_eq!(verifier.verify(&ed).await.unwrap(), "alice");
    let rsa = signed(&rsa_key(), Algorithm::RS256, Some("rsa-1"), valid.clone());
    assert_eq!(verifier.verify(&rsa).await.unwrap(), "alice");

    let refused = |token: String| {
        let verifier = &verifier;
        async move { verifier.verify(&token).await.unwrap_err() }
    };
    // Signed with another Ed25519 key under the first key's id.
    let e = refused(signed(
        &ed_key(ED_OTHER),
        Algorithm::EdDSA,
        Some("ed-1"),
        valid.clone(),
    ))
    .await;
    assert!(matches!(e, AuthError::BadSignature), "{e:?}");
    // An RS256 token naming the EdDSA key, and an HS256 token naming the RSA key (signed with
    // the public modulus as a secret would be the classic confusion): the key decides the
    // algorithm, not the token.
    let e = refused(signed(
        &rsa_key(),
        Algorithm::RS256,
        Some("ed-1"),
        valid.clone(),
    ))
    .await;
    assert!(matches!(e, AuthError::WrongAlgorithm), "{e:?}");
    let hs = EncodingKey::from_secret(b"whatever").unwrap();
    let e = refused(signed(&hs, Algorithm::HS256, Some("rsa-1"), valid.clone())).await;
    assert!(matches!(e, AuthError::WrongAlgorithm), "{e:?}");
    let e = refused(signed(
        &ed_key(ED),
        Algorithm::EdDSA,
        Some("nobody"),
        valid.clone(),
    ))
    .await;
    assert!(matches!(e, AuthError::UnknownKey(_)), "{e:?}");
    let e = refused(signed(&ed_key(ED), Algorithm::EdDSA, None, valid.clone())).await;
    assert!(matches!(e, AuthError::UnknownKey(_)), "{e:?}");
    let e = refused(signed(
        &ed_key(ED),
        Algorithm::EdDSA,
        Some("ed-1"),
        alice("other", now() + 600),
    ))
    .await;
    assert!(matches!(e, AuthError::WrongAudience), "{e:?}");
    let e = refused(signed(
        &ed_key(ED),
        Algorithm::EdDSA,
        Some("ed-1"),
        alice(AUDIENCE, now() - 600),
    ))
    .await;
    assert!(matches!(e, AuthError::Expired), "{e:?}");
    let e = refused(signed(
        &rsa_key(),
        Algorithm::RS256,
        Some("rsa-1"),
        serde_json::json!({ "aud": AUDIENCE, "exp": now() + 600 }),
    ))
    .await;
    assert!(matches!(e, AuthError::Malformed(_)), "{e:?}");

    // One fetch served all of that: the unknown kid did not refetch within `min_refetch`.
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_new_key_is_fetched_when_a_token_names_it() {
    let server = key_server(vec![jwk(&ed_key(ED), Algorithm::EdDSA, "ed-1")]).await;
    let options = JwksOptions {
        max_age: Duration::from_secs(300),
        min_refetch: Duration::ZERO,
    };
    let verifier = JwtVerifier::jwks_with(&server.url, AUDIENCE, options);
    let valid = alice(AUDIENCE, now() + 600);
    let rotated = signed(
        &ed_key(ED_OTHER),
        Algorithm::EdDSA,
        Some("ed-2"),
        valid.clone(),
    );
    assert!(matches!(
        verifier.verify(&rotated).await,
        Err(AuthError::UnknownKey(_))
    ));
    // The provider rotates: the new key is published, and the next token naming it verifies.
    server
        .keys
        .lock()
        .unwrap()
        .keys
        .push(jwk(&ed_key(ED_OTHER), Algorithm::EdDSA, "ed-2"));
    assert_eq!(verifier.verify(&rotated).await.unwrap(), "alice");
    let first = signed(&ed_key(ED), Algorithm::EdDSA, Some("ed-1"), valid);
    assert_eq!(verifier.verify(&first).await.unwrap(), "alice");
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn an_unreachable_key_server_is_transient_not_the_tokens_fault() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let verifier = JwtVerifier::jwks(format!("http://127.0.0.1:{port}/jwks.json"), AUDIENCE);
    let token = signed(
        &ed_key(ED),
        Algorithm::EdDSA,
        Some("ed-1"),
        alice(AUDIENCE, now() + 600),
    );
    let e = verifier.verify(&token).await.unwrap_err();
    assert!(e.is_transient(), "{e:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backend_accepts_a_jwks_token_and_answers_401_for_a_bad_one() {
    let server = key_server(vec![jwk(&ed_key(ED), Algorithm::EdDSA, "ed-1")]).await;
    let mut setup = common::Setup::new("http_jwks");
    setup.verifier = JwtVerifier::jwks(&server.url, AUDIENCE);
    let Some(backend) = common::Backend::start(setup).await else {
        return;
    };
    let body = common::upload_body(&[common::raw_intent(
        "phone",
        "alice",
        1,
        sai_suite::create("a"),
    )]);
    let good = signed(
        &ed_key(ED),
        Algorithm::EdDSA,
        Some("ed-1"),
        alice(AUDIENCE, now() + 600),
    );
    let bad = signed(
        &ed_key(ED_OTHER),
        Algorithm::EdDSA,
        Some("ed-1"),
        alice(AUDIENCE, now() + 600),
    );
    let (status, answer) = common::post(&backend.upload_url(), Some(&bad), body.clone()).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(backend.stored_intents().await, 0);
    let (status, answer) = common::post(&backend.upload_url(), Some(&good), body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(backend.stored_intents().await, 1);
    backend.stop().await;
}
