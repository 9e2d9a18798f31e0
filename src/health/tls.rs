//! TLS for https checks (keepalived's SSL_GET), with rustls on the ring provider.
//!
//! As keepalived, the real server's certificate is not verified by default: the check asks
//! whether the server answers, and a real server commonly holds the certificate of the public
//! name, or a self-signed one. The handshake itself is still checked (the server must prove it
//! holds the key of the certificate it sent). With `verify_tls = true` the certificate must chain
//! to a root of the system's store (read once, when the first such check runs; rustls-native-certs
//! also honours SSL_CERT_FILE and SSL_CERT_DIR) and name the virtualhost, or the probed address
//! without one.
//!
//! SNI follows the virtualhost: with one, it is the server name sent; without, the probed address
//! is the name, and TLS sends no SNI for an address (keepalived sends none unless told to).

use std::io;
use std::net::{IpAddr, TcpStream};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, SignatureScheme, StreamOwned};

use super::probe::ProbeFailure;

/// A TLS stream to a real server.
pub type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The name the handshake presents and verifies: the virtualhost, else the probed address.
pub fn server_name(virtualhost: Option<&str>, addr: IpAddr) -> Result<ServerName<'static>, String> {
    match virtualhost {
        Some(name) => {
            ServerName::try_from(name.to_string()).map_err(|_| format!("{name:?} is not a valid server name"))
        }
        None => Ok(ServerName::IpAddress(addr.into())),
    }
}

/// The client configuration of every https check that verifies (`verify`) or does not.
pub fn config(verify: bool) -> Arc<ClientConfig> {
    static VERIFYING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    static TRUSTING: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if verify {
        Arc::clone(VERIFYING.get_or_init(|| verifying(system_roots())))
    } else {
        Arc::clone(TRUSTING.get_or_init(trusting))
    }
}

/// Completes the handshake on `tcp` (its timeouts bound it) and returns the stream.
pub fn connect(
    tcp: TcpStream,
    name: ServerName<'static>,
    config: Arc<ClientConfig>,
) -> Result<TlsStream, ProbeFailure> {
    let connection = ClientConnection::new(config, name).map_err(|err| ProbeFailure::Tls(err.to_string()))?;
    let mut stream = StreamOwned::new(connection, tcp);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).map_err(|err| ProbeFailure::Tls(handshake_error(&err)))?;
    }
    Ok(stream)
}

fn handshake_error(err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => "handshake timed out".into(),
        io::ErrorKind::UnexpectedEof => "the server closed the connection during the handshake".into(),
        _ => format!("handshake failed: {err}"),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn trusting() -> Arc<ClientConfig> {
    let provider = provider();
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    Arc::new(config)
}

/// A configuration that verifies against `roots`.
pub(crate) fn verifying(roots: RootCertStore) -> Arc<ClientConfig> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for err in &found.errors {
        log::warn!("health: reading the system's TLS roots: {err}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        log::warn!("health: no TLS root certificate found: every https check with verify_tls = true will fail");
    } else {
        log::info!("health: {added} TLS root certificate(s) for verify_tls ({ignored} unreadable)");
    }
    roots
}

/// Accepts any certificate, but still checks the handshake's signatures with it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
