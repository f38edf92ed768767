//! `wss://` on both sides, with certificates made at test time (rcgen).
#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use common::*;
use http::{Request, Response};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::convert::Infallible;
use std::sync::Arc;
use swaggersocket::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use swaggersocket::tls::{self, crypto_provider, rustls};
use swaggersocket::{service_fn, Client, Connection, ErrorKind, Reject, Server};

/// A CA made for one test.
struct Ca {
    cert: CertificateDer<'static>,
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            cert: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate: (chain PEM, key PEM, chain, key).
    fn leaf(&self, name: &str, client: bool) -> Leaf {
        let sans = if client {
            vec![]
        } else {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        };
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert: cert.der().clone(),
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }

    fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.cert.clone()).unwrap();
        roots
    }

    fn client_config(&self) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(self.roots())
            .with_no_client_auth()
    }
}

struct Leaf {
    cert_pem: String,
    key_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

fn server_config(leaf: &Leaf) -> rustls::ServerConfig {
    rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.cert.clone()], leaf.key.clone_key())
        .unwrap()
}

fn wss(server: &Server) -> String {
    format!("wss://localhost:{}/", server.local_addr().port())
}

/// A directory of its own under the system temp dir, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir = std::env::temp_dir().join(format!("swaggersocket-tls-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[tokio::test]
async fn wss_calls_both_ways_with_pem_files() {
    init_tracing();
    let ca = Ca::new("test CA");
    let leaf = ca.leaf("localhost", false);
    let dir = TempDir::new();
    let cert = dir.write("server.pem", &leaf.cert_pem);
    let key = dir.write("server.key", &leaf.key_pem);
    let ca_file = dir.write("ca.pem", &ca.pem);

    let server = Server::builder()
        .serve(echo_service())
        .tls_pem_files(&cert, &key)
        .unwrap()
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let mut events = server.events();
    let client = Client::builder(wss(&server))
        .tls_config(tls::client_config_with_ca_pem_file(&ca_file).unwrap())
        .serve(echo_service())
        .connect()
        .await
        .unwrap();
    let on_server = next_received(&mut events).await;

    let up = within("client call", client.connection().call(post("/echo", "up")))
        .await
        .unwrap();
    assert_eq!(up.body(), "up");
    let down = within("server call", on_server.call(post("/echo", "down")))
        .await
        .unwrap();
    assert_eq!(down.body(), "down");
    // Many calls at once over one TLS stream, both ways.
    let conn = client.connection();
    let ups = (0..20).map(|i| conn.call(post("/echo", format!("u{i}"))));
    let downs = (0..20).map(|i| on_server.call(post("/echo", format!("d{i}"))));
    let (ups, downs) = within("concurrent calls", async {
        tokio::join!(
            futures_util::future::join_all(ups),
            futures_util::future::join_all(downs)
        )
    })
    .await;
    for (i, r) in ups.into_iter().enumerate() {
        assert_eq!(r.unwrap().body(), format!("u{i}").as_str());
    }
    for (i, r) in downs.into_iter().enumerate() {
        assert_eq!(r.unwrap().body(), format!("d{i}").as_str());
    }
    // The client sees the server's chain; the server, without client auth, none.
    assert_eq!(
        client.connection().peer_certificates(),
        std::slice::from_ref(&leaf.cert)
    );
    assert!(on_server.peer_certificates().is_empty());
}

#[tokio::test]
async fn mutual_tls_shows_the_client_certificate_to_handlers() {
    init_tracing();
    let ca = Ca::new("device CA");
    let server_leaf = ca.leaf("localhost", false);
    let device = ca.leaf("sensor-7", true);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.roots()),
        crypto_provider(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_leaf.cert.clone()], server_leaf.key.clone_key())
        .unwrap();
    // The handler answers with the DER of the client's leaf certificate.
    let server = Server::builder()
        .serve(service_fn(|req: Request<Bytes>| async move {
            let conn = req.extensions().get::<Connection>().unwrap();
            let leaf = conn.peer_certificates().first().map(|c| c.to_vec());
            Ok::<_, Infallible>(Response::new(Bytes::from(leaf.unwrap_or_default())))
        }))
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap();

    let with_cert = rustls::ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(ca.roots())
        .with_client_auth_cert(vec![device.cert.clone()], device.key.clone_key())
        .unwrap();
    let client = Client::builder(wss(&server))
        .tls_config(with_cert)
        .connect()
        .await
        .unwrap();
    let answer = client.connection().call(get("/whoami")).await.unwrap();
    assert_eq!(answer.body().as_ref(), device.cert.as_ref());

    // Without a client certificate the TLS handshake does not complete.
    let error = Client::builder(wss(&server))
        .tls_config(ca.client_config())
        .keep_alive(false)
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error.kind(),
            ErrorKind::Tls | ErrorKind::WebSocket | ErrorKind::Io
        ),
        "{error}"
    );
}

#[tokio::test]
async fn a_wrong_ca_fails_with_an_error_that_says_so() {
    init_tracing();
    let ca = Ca::new("real CA");
    let other = Ca::new("other CA");
    let server = Server::builder()
        .serve(echo_service())
        .tls(server_config(&ca.leaf("localhost", false)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let error = Client::builder(wss(&server))
        .tls_config(other.client_config())
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    let text = error.to_string();
    assert!(text.contains("not signed by a CA"), "{text}");
    // rustls's own words are the cause, one step down the chain.
    let cause = std::error::Error::source(&error)
        .expect("the TLS error is the source")
        .to_string();
    assert!(cause.contains("UnknownIssuer"), "{cause}");
    assert!(!text.contains(&cause), "the cause is not repeated: {text}");

    // The default (webpki roots) does not trust a private CA either.
    let error = Client::builder(wss(&server)).connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
}

#[tokio::test]
async fn plain_ws_at_a_tls_port_is_told_to_use_wss_and_others_stay_served() {
    init_tracing();
    let ca = Ca::new("test CA");
    let server = Server::builder()
        .serve(echo_service())
        .tls(server_config(&ca.leaf("localhost", false)))
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let good = Client::builder(wss(&server))
        .tls_config(ca.client_config())
        .connect()
        .await
        .unwrap();

    let error = Client::builder(url(server.local_addr()))
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    let text = error.to_string();
    assert!(text.contains("400"), "{text}");
    assert!(text.contains("wss://"), "{text}");

    let answer = good
        .connection()
        .call(post("/echo", "still"))
        .await
        .unwrap();
    assert_eq!(answer.body(), "still");
    let late = Client::builder(wss(&server))
        .tls_config(ca.client_config())
        .connect()
        .await
        .unwrap();
    let answer = late.connection().call(post("/echo", "new")).await.unwrap();
    assert_eq!(answer.body(), "new");
}

#[tokio::test]
async fn the_authenticate_hook_sees_the_client_certificate_and_admits_by_it() {
    init_tracing();
    let ca = Ca::new("fleet CA");
    let server_leaf = ca.leaf("localhost", false);
    let known = ca.leaf("sensor-7", true);
    // Signed by the same CA, so TLS accepts it; the hook does not know it.
    let stranger = ca.leaf("sensor-unknown", true);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(ca.roots()),
        crypto_provider(),
    )
    .build()
    .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![server_leaf.cert.clone()], server_leaf.key.clone_key())
        .unwrap();
    let allowed = known.cert.to_vec();
    let server = Server::builder()
        .authenticate(move |req| {
            let leaf = req.peer_certificates().first().map(|c| c.to_vec());
            let verdict = match leaf {
                Some(der) if der == allowed => Ok(String::from("sensor-7")),
                Some(_) => Err(Reject::forbidden("this device is not enrolled")),
                None => Err(Reject::unauthorized("a client certificate is required")),
            };
            async move { verdict }
        })
        .serve(service_fn(|req: Request<Bytes>| async move {
            let conn = req.extensions().get::<Connection>().unwrap();
            let name = conn.identity::<String>().cloned().unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Bytes::from(name)))
        }))
        .tls(config)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let client_with = |leaf: &Leaf| {
        rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(ca.roots())
            .with_client_auth_cert(vec![leaf.cert.clone()], leaf.key.clone_key())
            .unwrap()
    };

    let error = Client::builder(wss(&server))
        .tls_config(client_with(&stranger))
        .keep_alive(false)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Rejected, "{error}");
    let text = error.to_string();
    assert!(text.contains("403"), "{text}");
    assert!(text.contains("this device is not enrolled"), "{text}");

    let client = Client::builder(wss(&server))
        .tls_config(client_with(&known))
        .connect()
        .await
        .unwrap();
    let answer = client.connection().call(get("/whoami")).await.unwrap();
    assert_eq!(answer.body(), "sensor-7");
}
