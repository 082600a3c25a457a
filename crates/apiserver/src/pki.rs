//! First-start security material in the data dir: a CA, a serving certificate for
//! localhost/loopback signed by it, the admin bearer token, the key that signs
//! service-account tokens (`pki/sa.key`), and the kubeconfig that kubectl and
//! `kube::Config::infer()` read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use base64::Engine;

/// Paths and contents of the server's credentials.
pub struct Credentials {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
    pub admin_token: String,
    /// The secret that signs service-account tokens: whoever holds it can mint any.
    pub sa_key: Vec<u8>,
    pub kubeconfig_path: PathBuf,
}

fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Loads the credentials from `data_dir/pki`, creating them on first start, and
/// (re)writes the kubeconfig for the address the server listens on now.
pub fn ensure(data_dir: &Path, api_addr: SocketAddr) -> Result<Credentials> {
    let pki = data_dir.join("pki");
    std::fs::create_dir_all(&pki)?;
    let (ca_path, cert_path, key_path, token_path) = (
        pki.join("ca.crt"),
        pki.join("apiserver.crt"),
        pki.join("apiserver.key"),
        pki.join("admin.token"),
    );
    if !(ca_path.exists() && cert_path.exists() && key_path.exists()) {
        let (ca, cert, key) = generate()?;
        write_private(&ca_path, &ca)?;
        write_private(&cert_path, &cert)?;
        write_private(&key_path, &key)?;
    }
    if !token_path.exists() {
        write_private(&token_path, &random_token())?;
    }
    let sa_key_path = pki.join("sa.key");
    if !sa_key_path.exists() {
        write_private(&sa_key_path, &random_token())?;
    }
    let sa_key = std::fs::read_to_string(&sa_key_path)?
        .trim()
        .as_bytes()
        .to_vec();
    if sa_key.len() < 32 {
        anyhow::bail!(
            "{} is too short to sign tokens safely (delete it to get a new one; tokens signed with it stop working)",
            sa_key_path.display()
        );
    }
    let creds = Credentials {
        ca_pem: std::fs::read_to_string(&ca_path)?,
        cert_pem: std::fs::read_to_string(&cert_path)?,
        key_pem: std::fs::read_to_string(&key_path)?,
        admin_token: std::fs::read_to_string(&token_path)?.trim().to_string(),
        sa_key,
        kubeconfig_path: data_dir.join("kubeconfig"),
    };
    write_private(&creds.kubeconfig_path, &kubeconfig(&creds, api_addr))?;
    Ok(creds)
}

fn generate() -> Result<(String, String, String)> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "skiff-ca");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut sans = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
        "kubernetes.default.svc".to_string(),
    ];
    if let Ok(h) = std::fs::read_to_string("/etc/hostname") {
        let h = h.trim();
        if !h.is_empty() {
            sans.push(h.to_string());
        }
    }
    let mut params = CertificateParams::new(sans)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "skiff-apiserver");
    params.not_after = rcgen::date_time_ymd(2036, 1, 1);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok((ca.pem(), cert.pem(), key.serialize_pem()))
}

/// The kubeconfig (context `skiff`) for a server at `addr`.
pub fn kubeconfig(creds: &Credentials, addr: SocketAddr) -> String {
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        addr.ip().to_string()
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let ca = base64::engine::general_purpose::STANDARD.encode(&creds.ca_pem);
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: skiff\n  cluster:\n    server: https://{host}:{port}\n    certificate-authority-data: {ca}\nusers:\n- name: skiff-admin\n  user:\n    token: {token}\ncontexts:\n- name: skiff\n  context:\n    cluster: skiff\n    user: skiff-admin\n    namespace: default\ncurrent-context: skiff\npreferences: {{}}\n",
        port = addr.port(),
        token = creds.admin_token
    )
}

/// A rustls server configuration from the serving certificate, offering HTTP/2 and
/// HTTP/1.1.
pub fn tls_config(creds: &Credentials) -> Result<rustls::ServerConfig> {
    let certs =
        rustls_pemfile::certs(&mut creds.cert_pem.as_bytes()).collect::<Result<Vec<_>, _>>()?;
    let key = rustls_pemfile::private_key(&mut creds.key_pem.as_bytes())?
        .context("no private key in apiserver.key")?;
    let mut cfg = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(certs, key)?;
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(cfg)
}
