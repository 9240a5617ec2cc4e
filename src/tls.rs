//! TLS for `SSLApp` (rustls, ring provider): the server configuration built from uWebSockets.js
//! `AppOptions`, the SNI certificate resolver behind `addServerName` / `removeServerName` /
//! `missingServerName`, key loading (PEM; passphrase-protected PKCS#8), and [`TlsStream`], the
//! byte stream of an SSLApp connection.
//!
//! # AppOptions
//!
//! | option | here |
//! |---|---|
//! | `key_file_name`, `cert_file_name` | PEM key (PKCS#8, PKCS#1 RSA or SEC1 EC) and certificate chain |
//! | `passphrase` | decrypts an `ENCRYPTED PRIVATE KEY` (PKCS#8, PBES2 or PBES1); legacy OpenSSL `Proc-Type: 4,ENCRYPTED` keys are refused (convert with `openssl pkcs8 -topk8`) |
//! | `ca_file_name` | clients must present a certificate that chains to one of these CAs |
//! | `ssl_ciphers` | OpenSSL TLS 1.2 names (`ECDHE-RSA-AES128-GCM-SHA256`...) and TLS 1.3 names (`TLS_AES_128_GCM_SHA256`...) that rustls implements restrict the suites; other entries (`HIGH`, `!aNULL`, CBC or RSA-kx suites...) are ignored. TLS 1.3 suites stay enabled unless the list names some, as with OpenSSL, whose cipher list does not touch TLS 1.3 |
//! | `dh_params_file_name` | must name a readable PEM `DH PARAMETERS` file (uWS fails otherwise too), then unused: rustls has no finite-field DHE (ECDHE / X25519 only) |
//! | `ssl_prefer_low_memory_usage` | ignored: TLS buffers are already bounded per connection |
//!
//! # Server names
//!
//! `addServerName(host, options)` serves `options`' certificate to clients whose SNI is `host`
//! (exact, or `*.example.com` wildcards for one label); other names get the app's certificate.
//! Per-name `ca_file_name` / `ssl_ciphers` are not applied (one rustls config per app).
//! `missingServerName(cb)`: rustls resolves the certificate inside its handshake processing, where
//! JS cannot run, so an unknown name is recorded and `cb(hostname)` runs right after that read
//! step. That handshake uses the default certificate; a name the callback adds serves the next
//! connections (uWebSockets.js lets the callback add the name for the same handshake).

use crate::app::{App, Route};
use crate::event_loop::Loop;
use crate::js::napi::Ref;
use crate::slab::Key;
use crate::transport::Transport;
use mio::event::Source;
use mio::{Interest, Registry, Token};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig, ServerConnection, SupportedCipherSuite};
use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use uws_core::http::router::Router;

/// Ciphertext plus not-yet-encrypted plaintext rustls may hold per connection before writes
/// answer `WouldBlock` (the rest waits in the connection's send queue).
pub const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// uWebSockets.js `AppOptions` (the TLS part).
#[derive(Default, Clone, Debug)]
pub struct Options {
    pub key_file_name: Option<String>,
    pub cert_file_name: Option<String>,
    pub passphrase: Option<String>,
    pub ca_file_name: Option<String>,
    pub ssl_ciphers: Option<String>,
    /// Ignored (no finite-field DHE in rustls).
    pub dh_params_file_name: Option<String>,
}

type SharedRouter = Rc<RefCell<Router<Route>>>;

/// The TLS side of an SSLApp.
pub struct TlsApp {
    pub config: Arc<ServerConfig>,
    sni: Arc<Sni>,
    /// `missingServerName(cb)`.
    missing: RefCell<Option<Ref>>,
    provider: Arc<CryptoProvider>,
    /// Routers of `domain(name)`, by lower-case server name (`*.example.com` for wildcards).
    routers: RefCell<HashMap<String, SharedRouter>>,
    /// Where routes go: the router of the last `domain(name)`, or None for the app's own.
    current: RefCell<Option<SharedRouter>>,
}

impl TlsApp {
    pub fn new(o: &Options) -> Result<TlsApp, String> {
        let provider = Arc::new(provider(o.ssl_ciphers.as_deref()));
        // Without a certificate (uWS allows that) only server names can complete handshakes.
        let default = match (&o.cert_file_name, &o.key_file_name) {
            (Some(_), Some(_)) => Some(Arc::new(certified_key(o, &provider)?)),
            (Some(cert), None) => read_certs(cert).map(|_| None)?,
            (None, Some(key)) => read_key(key, o.passphrase.as_deref()).map(|_| None)?,
            (None, None) => None,
        };
        if let Some(dh) = &o.dh_params_file_name {
            // Not used (rustls has no finite-field DHE), but a file uWS could not load fails here too.
            let text = std::fs::read_to_string(dh).map_err(|e| format!("{dh}: {e}"))?;
            if !text.contains("-----BEGIN DH PARAMETERS-----") {
                return Err(format!("{dh}: no DH PARAMETERS"));
            }
        }
        let sni = Arc::new(Sni {
            default,
            names: RwLock::new(HashMap::new()),
            report_missing: AtomicBool::new(false),
            missing: Mutex::new(Vec::new()),
        });
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(rustls::DEFAULT_VERSIONS)
            .map_err(|e| format!("ssl_ciphers: {e}"))?;
        let builder = match &o.ca_file_name {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for cert in read_certs(ca)? {
                    roots.add(cert).map_err(|e| format!("{ca}: {e}"))?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                        .build()
                        .map_err(|e| format!("{ca}: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_cert_resolver(sni.clone());
        Ok(TlsApp {
            config: Arc::new(config),
            sni,
            missing: RefCell::new(None),
            provider,
            routers: RefCell::new(HashMap::new()),
            current: RefCell::new(None),
        })
    }

    /// `addServerName(hostname, options)`: the certificate of `options` for that SNI name.
    pub fn add_server_name(&self, hostname: &str, o: &Options) -> Result<(), String> {
        let key = Arc::new(certified_key(o, &self.provider)?);
        self.sni
            .names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hostname.to_ascii_lowercase(), key);
        Ok(())
    }

    /// Forgets the name's certificate and its `domain()` routes.
    pub fn remove_server_name(&self, hostname: &str) {
        let name = hostname.to_ascii_lowercase();
        self.sni
            .names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&name);
        self.routers.borrow_mut().remove(&name);
    }

    /// `domain(name)`: the routes that follow serve connections whose SNI is `name` (exact or
    /// matching a `*.` wildcard name). `domain('')` goes back to the app's own router.
    pub fn set_domain(&self, name: &str) {
        let router = (!name.is_empty()).then(|| {
            self.routers
                .borrow_mut()
                .entry(name.to_ascii_lowercase())
                .or_default()
                .clone()
        });
        *self.current.borrow_mut() = router;
    }

    pub fn set_missing_server_name(&self, cb: Option<Ref>) {
        self.sni
            .report_missing
            .store(cb.is_some(), Ordering::Relaxed);
        *self.missing.borrow_mut() = cb;
    }
}

/// Runs `f` on the router that route registrations go to: the app's own, or after
/// `domain(name)` on an SSLApp that server name's.
pub fn with_router<R>(app: &App, f: impl FnOnce(&mut Router<Route>) -> R) -> R {
    let domain = app.tls.as_ref().and_then(|t| t.current.borrow().clone());
    match domain {
        Some(r) => f(&mut r.borrow_mut()),
        None => f(&mut app.router.borrow_mut()),
    }
}

/// The `domain()` router serving connection `key` (by its SNI name), if any. Connections of
/// names without `domain()` routes use the app's router.
pub fn request_router(lp: &Loop, app: &App, key: Key) -> Option<SharedRouter> {
    let tls = app.tls.as_ref()?;
    let routers = tls.routers.borrow();
    if routers.is_empty() {
        return None;
    }
    let conns = lp.conns.borrow();
    let Transport::Tls(s) = &conns.get(key)?.stream else {
        return None;
    };
    let name = s.server_name()?.to_ascii_lowercase();
    if let Some(r) = routers.get(&name) {
        return Some(r.clone());
    }
    let dot = name.find('.')?;
    routers.get(&format!("*{}", &name[dot..])).cloned()
}

/// The certificate resolver: SNI name -> certificate, else the app's own.
#[derive(Debug)]
struct Sni {
    default: Option<Arc<CertifiedKey>>,
    /// Lower-case names; `*.example.com` matches one label.
    names: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    report_missing: AtomicBool,
    /// Unknown SNI names seen by handshakes since the last `after_read`.
    missing: Mutex<Vec<String>>,
}

impl Sni {
    fn lookup(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let names = self.names.read().unwrap_or_else(|e| e.into_inner());
        if names.is_empty() {
            return None;
        }
        if let Some(k) = names.get(name) {
            return Some(k.clone());
        }
        let dot = name.find('.')?;
        names.get(&format!("*{}", &name[dot..])).cloned()
    }
}

impl ResolvesServerCert for Sni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        if let Some(name) = hello.server_name() {
            let name = name.to_ascii_lowercase();
            if let Some(k) = self.lookup(&name) {
                return Some(k);
            }
            if self.report_missing.load(Ordering::Relaxed) {
                self.missing
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(name);
            }
        }
        self.default.clone()
    }
}

/// ring's provider, its suites restricted by an OpenSSL-style `ssl_ciphers` list.
fn provider(ciphers: Option<&str>) -> CryptoProvider {
    let mut p = ring::default_provider();
    let Some(list) = ciphers else { return p };
    let wanted: Vec<SupportedCipherSuite> = list
        .split([':', ',', ' '])
        .filter_map(|name| suite_for(name.trim()))
        .collect();
    let (w13, w12): (Vec<_>, Vec<_>) = wanted
        .iter()
        .partition(|s| matches!(s, SupportedCipherSuite::Tls13(_)));
    if wanted.is_empty() {
        return p; // nothing rustls implements was named: keep the defaults
    }
    p.cipher_suites.retain(|s| match s {
        SupportedCipherSuite::Tls13(_) => w13.is_empty() || w13.contains(&s),
        SupportedCipherSuite::Tls12(_) => w12.contains(&s),
    });
    // Keep the list's order (OpenSSL's preference order).
    p.cipher_suites
        .sort_by_key(|s| wanted.iter().position(|w| w == s).unwrap_or(usize::MAX));
    p
}

/// The rustls suite of an OpenSSL (or IANA) cipher name, if ring implements it.
fn suite_for(name: &str) -> Option<SupportedCipherSuite> {
    use rustls::crypto::ring::cipher_suite as cs;
    Some(match name {
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        "ECDHE-ECDSA-AES128-GCM-SHA256" | "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
        }
        "ECDHE-ECDSA-AES256-GCM-SHA384" | "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => {
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        }
        "ECDHE-ECDSA-CHACHA20-POLY1305" | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
        }
        "ECDHE-RSA-AES128-GCM-SHA256" | "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
        }
        "ECDHE-RSA-AES256-GCM-SHA384" | "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => {
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
        }
        "ECDHE-RSA-CHACHA20-POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
        }
        _ => return None,
    })
}

fn certified_key(o: &Options, provider: &CryptoProvider) -> Result<CertifiedKey, String> {
    let (Some(cert), Some(key)) = (&o.cert_file_name, &o.key_file_name) else {
        return Err("key_file_name and cert_file_name are required".into());
    };
    let certs = read_certs(cert)?;
    let key = read_key(key, o.passphrase.as_deref())?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| format!("{cert}: {e}"))
}

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{path}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path}: no certificate"));
    }
    Ok(certs)
}

/// A PEM private key; `ENCRYPTED PRIVATE KEY` (PKCS#8) is decrypted with `passphrase`.
pub fn read_key(path: &str, passphrase: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    let pem = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let text = String::from_utf8_lossy(&pem);
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    if let Some(start) = text.find(BEGIN) {
        let Some(pass) = passphrase else {
            return Err(format!(
                "{path}: the key is encrypted and no passphrase was given"
            ));
        };
        let end = text[start..]
            .find(END)
            .map(|i| start + i + END.len())
            .ok_or_else(|| format!("{path}: unterminated PEM"))?;
        let (_, der) = pkcs8::der::pem::decode_vec(text[start..end].as_bytes())
            .map_err(|e| format!("{path}: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("{path}: {e}"))?;
        let plain = info
            .decrypt(pass.as_bytes())
            .map_err(|_| format!("{path}: wrong passphrase or unsupported encryption"))?;
        return Ok(PrivatePkcs8KeyDer::from(plain.as_bytes().to_vec()).into());
    }
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{path}: legacy encrypted PEM keys are not supported; convert with `openssl pkcs8 -topk8`"
        ));
    }
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| format!("{path}: {e}"))
}

/// An SSLApp connection's stream: rustls over the accepted socket.
pub struct TlsStream {
    sock: Transport,
    tls: ServerConnection,
    /// The socket reported end of stream.
    eof: bool,
    /// close_notify queued behind pending ciphertext: FIN once it is written.
    shutdown_pending: bool,
    /// A write answered `WouldBlock` because rustls was full.
    write_blocked: bool,
}

impl TlsStream {
    pub fn new(sock: Transport, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(TlsStream {
            sock,
            tls,
            eof: false,
            shutdown_pending: false,
            write_blocked: false,
        })
    }

    pub fn socket(&self) -> &Transport {
        &self.sock
    }

    /// Ciphertext waits for the socket.
    pub fn wants_write(&self) -> bool {
        self.tls.wants_write()
    }

    /// The SNI name the client sent, if any.
    pub fn server_name(&self) -> Option<&str> {
        self.tls.server_name()
    }

    /// Writes pending ciphertext until done or the socket answers `WouldBlock` (the writable
    /// event brings us back). Sends the deferred FIN once everything is out.
    pub fn flush_pending(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if self.shutdown_pending {
            self.shutdown_pending = false;
            let _ = self.sock.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        if how == Shutdown::Write {
            self.tls.send_close_notify();
            self.shutdown_pending = true;
            return self.flush_pending();
        }
        self.sock.shutdown(how)
    }

    /// Whether a write refused for lack of room can now go on although no writable event will
    /// come (rustls drained its buffer from the read path, e.g. when the handshake completed).
    pub fn take_writable_again(&mut self) -> bool {
        if self.write_blocked && !self.tls.wants_write() && !self.tls.is_handshaking() {
            self.write_blocked = false;
            return true;
        }
        false
    }

    fn refused(&mut self) -> io::Error {
        self.write_blocked = true;
        io::ErrorKind::WouldBlock.into()
    }
}

impl Read for TlsStream {
    /// Plaintext; `Ok(0)` at close_notify or end of stream. Reads the socket until rustls has
    /// plaintext or the socket answers `WouldBlock`, so the caller reading until `WouldBlock`
    /// drains the socket (edge-triggered readiness).
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // The socket ended without close_notify: an end of stream all the same.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if self.eof {
                return Ok(0);
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => {
                    self.eof = true;
                    continue; // rustls reports what it had, then the end
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            if let Err(e) = self.tls.process_new_packets() {
                let _ = self.flush_pending(); // the alert
                return Err(io::Error::new(io::ErrorKind::InvalidData, e));
            }
            // Handshake messages, alerts, key updates.
            self.flush_pending()?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Accepts what rustls has room for (bounded by [`TLS_BUFFER_LIMIT`]) and writes the
    /// ciphertext on; `WouldBlock` when nothing fits, so the send queue keeps the rest.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.flush_pending()?;
        let offered: usize = bufs.iter().map(|b| b.len()).sum();
        if offered == 0 {
            return Ok(0);
        }
        let n = self.tls.writer().write_vectored(bufs)?;
        if n == 0 {
            return Err(self.refused());
        }
        self.flush_pending()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_pending()
    }
}

impl Source for TlsStream {
    fn register(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.sock.register(r, t, i)
    }

    fn reregister(&mut self, r: &Registry, t: Token, i: Interest) -> io::Result<()> {
        self.sock.reregister(r, t, i)
    }

    fn deregister(&mut self, r: &Registry) -> io::Result<()> {
        self.sock.deregister(r)
    }
}

/// Wraps a socket accepted for `app` in TLS when the app is an SSLApp. None: drop the socket.
pub fn wrap(lp: &Loop, app: Key, sock: Transport) -> Option<Transport> {
    let config = match lp.apps.borrow().get(app).and_then(|a| a.tls.as_ref()) {
        Some(t) => t.config.clone(),
        None => return Some(sock),
    };
    TlsStream::new(sock, config)
        .ok()
        .map(|s| Transport::Tls(Box::new(s)))
}

/// After a read step of a TLS connection, outside every borrow: resumes writes that waited on
/// rustls, and calls `missingServerName` for unknown SNI names the handshakes met.
pub fn after_read(lp: &Rc<Loop>, key: Key, app: Key) {
    let again = lp
        .conns
        .borrow_mut()
        .get_mut(key)
        .is_some_and(|c| match &mut c.stream {
            Transport::Tls(s) => s.take_writable_again(),
            _ => false,
        });
    if again {
        crate::conn::on_writable(lp, key);
    }
    let Some(app) = lp.apps.borrow().get(app).cloned() else {
        return;
    };
    let Some(tls) = &app.tls else { return };
    if !tls.sni.report_missing.load(Ordering::Relaxed) {
        return;
    }
    let names = std::mem::take(&mut *tls.sni.missing.lock().unwrap_or_else(|e| e.into_inner()));
    for name in names {
        let cb = tls.missing.borrow().as_ref().map(|r| r.get());
        let Some(cb) = cb else { return };
        if let Ok(arg) = lp.env.string(&name) {
            lp.call(cb, &[arg]);
        }
    }
}
