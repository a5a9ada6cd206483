//! TLS the libpq way, with rustls: the SSLRequest negotiation, sslmode's verification
//! rules, root and client certificates, and what to say when any of it fails.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Failure, Pace, Phase, diagnosis, net};
use crate::libpq::{RootCert, SslMode, TlsSettings};

/// A stream the handshake can run over: plain TCP or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// The bytes of an SSLRequest: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Builds the rustls configuration for a target. Failures are permanent: they name the
/// mode and the file involved.
pub fn client_config(settings: &TlsSettings) -> Result<Arc<ClientConfig>, Failure> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mode = settings.mode;
    let roots = match &settings.root_cert {
        Some(RootCert::System) => Some(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }),
        Some(RootCert::File(path)) => Some(load_roots(path, mode)?),
        None if mode.verifies() => unreachable!("verify modes always have a root certificate"),
        None => None,
    };
    let inner = match roots {
        Some(roots) => Some(
            rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| config_failure(mode, format!("cannot use the root certificates: {e}")))?,
        ),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        inner,
        check_name: mode == SslMode::VerifyFull,
        provider: provider.clone(),
    });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| config_failure(mode, e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let (chain, key) = load_client_identity(cert, key, mode)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_failure(mode, format!("client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

fn config_failure(mode: SslMode, message: String) -> Failure {
    Failure::new(Phase::Tls, Pace::Backoff, message)
        .permanent()
        .with_hint(format!(
            "fix the TLS settings of this target (sslmode={mode})."
        ))
}

fn load_roots(path: &Path, mode: SslMode) -> Result<RootCertStore, Failure> {
    let shown = path.display();
    if !path.exists() {
        return Err(Failure::new(
            Phase::Tls,
            Pace::Backoff,
            format!("root certificate file \"{shown}\" does not exist"),
        )
        .permanent()
        .with_hint(format!(
            "sslmode={mode} checks the server's certificate against a CA. Give the CA's\n\
             certificate with sslrootcert=FILE (or PGSSLROOTCERT), sslrootcert=system for\n\
             public CAs, or use sslmode=require to encrypt without verifying."
        )));
    }
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            config_failure(
                mode,
                format!("cannot read root certificate file \"{shown}\": {e}"),
            )
        })?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(config_failure(
            mode,
            format!("root certificate file \"{shown}\" holds no usable certificate"),
        ));
    }
    Ok(store)
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load_client_identity(cert: &Path, key: &Path, mode: SslMode) -> Result<Identity, Failure> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            config_failure(
                mode,
                format!("cannot read client certificate \"{}\": {e}", cert.display()),
            )
        })?;
    // As libpq: a key others can read is refused (root-owned keys may be group-readable).
    if let Ok(meta) = std::fs::metadata(key) {
        let allowed = if meta.uid() == 0 { 0o037 } else { 0o077 };
        if meta.permissions().mode() & allowed != 0 {
            return Err(Failure::new(
                Phase::Tls,
                Pace::Backoff,
                format!(
                    "private key file \"{}\" has group or world access",
                    key.display()
                ),
            )
            .permanent()
            .with_hint("make it u=rw (0600) or less, as libpq requires."));
        }
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        config_failure(
            mode,
            format!("cannot read private key \"{}\": {e}", key.display()),
        )
    })?;
    Ok((chain, key))
}

/// What the TLS negotiation produced.
pub enum Negotiated<S> {
    Plain(S),
    Tls(Box<tokio_rustls::client::TlsStream<S>>),
}

/// Sends an SSLRequest and, when the server agrees, performs the TLS handshake. A server
/// that declines gets a plaintext session only under sslmode prefer and allow.
pub async fn negotiate<S>(
    mut stream: S,
    mode: SslMode,
    config: Arc<ClientConfig>,
    server_name: ServerName<'static>,
    root_file: Option<&Path>,
) -> Result<Negotiated<S>, Failure>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let io_failure =
        |e: std::io::Error| Failure::new(Phase::Tls, Pace::Backoff, net::describe_io(&e));
    stream.write_all(&SSL_REQUEST).await.map_err(io_failure)?;
    let mut answer = [0u8; 1];
    match stream.read_exact(&mut answer).await {
        Ok(_) => {}
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return Err(diagnosis::closed_before_answering(Phase::Tls));
        }
        Err(e) => return Err(io_failure(e)),
    }
    match answer[0] {
        b'S' => {
            let connector = tokio_rustls::TlsConnector::from(config);
            match connector.connect(server_name.clone(), stream).await {
                Ok(tls) => Ok(Negotiated::Tls(Box::new(tls))),
                Err(e) => Err(handshake_failure(&e, mode, &server_name, root_file)),
            }
        }
        b'N' if matches!(mode, SslMode::Prefer | SslMode::Allow) => Ok(Negotiated::Plain(stream)),
        b'N' => Err(Failure::new(
            Phase::Tls,
            Pace::Backoff,
            format!("the server does not accept TLS connections (sslmode={mode})"),
        )
        .permanent()
        .with_hint(
            "the server runs with ssl=off. Turn TLS on there (ssl=on with a certificate),\n\
             or use sslmode=prefer or disable if plaintext is acceptable.",
        )),
        other => {
            // Read a little more of what the peer says, to show it.
            let mut rest = [0u8; 31];
            let more = tokio::time::timeout(
                std::time::Duration::from_millis(100),
                stream.read(&mut rest),
            )
            .await
            .map_or(0, |r| r.unwrap_or(0));
            let mut said = vec![other];
            said.extend_from_slice(&rest[..more]);
            Err(diagnosis::not_postgres(Phase::Tls, &said))
        }
    }
}

/// A failed TLS handshake, in words that name the mode and the file involved.
fn handshake_failure(
    e: &std::io::Error,
    mode: SslMode,
    name: &ServerName<'_>,
    root_file: Option<&Path>,
) -> Failure {
    let roots = match root_file {
        Some(path) => format!("sslrootcert \"{}\"", path.display()),
        None => "the built-in web roots (sslrootcert=system)".to_string(),
    };
    let host = name.to_str();
    let tls_error = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let (message, hint) = match tls_error {
        Some(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)) => (
            "the server's certificate is not signed by a trusted CA".to_string(),
            format!(
                "sslmode={mode} trusts only the CAs in {roots}. Give the CA that signed\n\
                 the server's certificate, or use sslmode=require to encrypt without verifying."
            ),
        ),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => (
            format!("the server's certificate is not valid for host \"{host}\""),
            format!(
                "sslmode={mode} checks that the certificate names the host you connect to.\n\
                 Connect by a name the certificate lists, or use sslmode=verify-ca to check\n\
                 only the CA."
            ),
        ),
        Some(rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        )) => (
            "the server's certificate has expired".to_string(),
            "renew the server's certificate (ssl_cert_file) and reload the server.".to_string(),
        ),
        Some(rustls::Error::AlertReceived(alert)) => (
            format!("the server refused the TLS handshake ({alert:?})"),
            "the server may require a client certificate: give sslcert and sslkey (or\n\
             PGSSLCERT and PGSSLKEY), signed by a CA the server trusts (ssl_ca_file)."
                .to_string(),
        ),
        Some(other) => (
            format!("TLS handshake failed: {other}"),
            format!("check the server's TLS setup and this target's sslmode={mode}."),
        ),
        None => {
            // The connection itself failed mid-handshake: transient.
            return Failure::new(Phase::Tls, Pace::Backoff, net::describe_io(e));
        }
    };
    Failure::new(Phase::Tls, Pace::Backoff, message)
        .permanent()
        .with_hint(hint)
}

/// sslmode's verification rules on top of webpki: `require` without a root certificate
/// checks nothing; `verify-ca` (and `require` with one) checks the chain but not the name;
/// `verify-full` checks both. Handshake signatures are always verified.
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    check_name: bool,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(inner) = &self.inner else {
            return Ok(ServerCertVerified::assertion());
        };
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
