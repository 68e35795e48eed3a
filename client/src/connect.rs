//! Connecting to a custval server: URL, TLS, bearer token and message limits, as global
//! command-line options shared by every subcommand.

use std::path::PathBuf;
use std::time::Duration;

use custval_proto::v1::models_client::ModelsClient;
use custval_proto::v1::scoring_client::ScoringClient;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Uri};
use tonic::{Request, Status};

use crate::call::{CallPolicy, Retry};
use crate::error::{ClientError, error_chain, parse_duration};

/// Where the server is when nothing says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";
/// Largest message sent or accepted, as the server's default.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// How to reach the server.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connection (every command)")]
pub struct ConnectOptions {
    /// Server URL: http://host:port, or https://host:port for TLS.
    #[arg(long, global = true, env = "CUSTVAL_SERVER", default_value = DEFAULT_SERVER)]
    pub server: String,

    /// PEM file of the CA that signed the server's certificate (implies TLS). Without
    /// it, https:// URLs are checked against the system's trusted roots.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,

    /// Bearer token sent as `authorization: Bearer <token>` on every call.
    #[arg(long, global = true, env = "CUSTVAL_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Largest gRPC message sent or accepted, in bytes.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = DEFAULT_MAX_MESSAGE_BYTES)]
    pub max_message_bytes: usize,

    /// Give up connecting after this long.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "5s")]
    pub connect_timeout: Duration,

    /// Deadline of each call, retries included (e.g. 30s); sent to the server, which
    /// stops working on a call the client no longer waits for. Default: no deadline.
    #[arg(long, global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub deadline: Option<Duration>,

    /// Retries of a call or connection that failed transiently (UNAVAILABLE, or
    /// RESOURCE_EXHAUSTED with the server's RetryInfo), with exponential backoff.
    /// Fits and deletes are not resent once they may have reached the server.
    #[arg(long, global = true, default_value_t = CallPolicy::default().retries)]
    pub retries: u32,

    /// Wait before the first retry; doubles with each further one.
    #[arg(long, global = true, value_parser = parse_duration, default_value = "100ms")]
    pub retry_backoff: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions::new(DEFAULT_SERVER)
    }
}

impl ConnectOptions {
    /// Plain options for `server`: no TLS CA file, no token, default limits.
    pub fn new(server: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            server: server.into(),
            tls_ca: None,
            token: None,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            connect_timeout: Duration::from_secs(5),
            deadline: None,
            retries: CallPolicy::default().retries,
            retry_backoff: CallPolicy::default().backoff,
        }
    }

    /// Deadline and retries of the calls made on connections from these options.
    pub fn policy(&self) -> CallPolicy {
        CallPolicy {
            deadline: self.deadline,
            retries: self.retries,
            backoff: self.retry_backoff,
        }
    }

    /// The server URL with a scheme (`host:port` alone means http).
    pub fn url(&self) -> String {
        let s = self.server.trim();
        if s.contains("://") {
            s.to_owned()
        } else {
            format!("http://{s}")
        }
    }

    /// The endpoint, with TLS configured when the URL or the options ask for it.
    pub fn endpoint(&self) -> Result<Endpoint, ClientError> {
        let url = self.url();
        let bad = |reason: String| ClientError::Url {
            url: url.clone(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| bad(format!("{e}")))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            other => return Err(bad(format!("scheme {other:?} is not http or https"))),
        };
        if uri.host().is_none() {
            return Err(bad("no host".into()));
        }
        if self.tls_ca.is_some() && !tls {
            return Err(ClientError::Invalid(format!(
                "--tls-ca needs an https:// server URL, got {url}"
            )));
        }
        if self.max_message_bytes == 0 {
            return Err(ClientError::Invalid(
                "--max-message-bytes must be at least 1".into(),
            ));
        }
        let mut endpoint = Endpoint::from(uri)
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            // Large score chunks come back faster when the server need not wait for
            // window updates; hyper's defaults are sized for small messages.
            .initial_stream_window_size(Some(8 << 20))
            .initial_connection_window_size(Some(16 << 20));
        if tls {
            let config = match &self.tls_ca {
                Some(path) => {
                    let pem = std::fs::read(path).map_err(|e| ClientError::file(path, e))?;
                    ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem))
                }
                None => ClientTlsConfig::new().with_native_roots(),
            };
            endpoint = endpoint
                .tls_config(config)
                .map_err(|e| bad(error_chain(&e)))?;
        }
        Ok(endpoint)
    }

    /// The interceptor that adds the bearer token, if any.
    pub fn auth(&self) -> Result<BearerToken, ClientError> {
        BearerToken::new(self.token.as_deref())
    }

    /// Connects one HTTP/2 connection. A refused or timed-out connection is retried as
    /// an UNAVAILABLE call would be (a server restarting comes back); then it fails
    /// clearly.
    pub async fn connect(&self) -> Result<Connection, ClientError> {
        let endpoint = self.endpoint()?;
        let auth = self.auth()?;
        let url = self.url();
        let policy = self.policy();
        let mut failures = 0;
        let channel = loop {
            match endpoint.connect().await {
                Ok(channel) => break channel,
                Err(e) => {
                    failures += 1;
                    let reason = connect_reason(&e);
                    let transient = Status::unavailable(reason.clone());
                    match policy.retry_after(&transient, Retry::Idempotent, failures) {
                        Some(delay) => tokio::time::sleep(delay).await,
                        None => {
                            let attempts = if failures > 1 {
                                format!(" ({failures} attempts)")
                            } else {
                                String::new()
                            };
                            return Err(ClientError::Connect {
                                url,
                                reason: format!("{reason}{attempts}"),
                            });
                        }
                    }
                }
            }
        };
        Ok(Connection {
            channel: InterceptedService::new(channel, auth),
            url,
            max_message_bytes: self.max_message_bytes,
            policy,
        })
    }

    /// `n` separate HTTP/2 connections to the same server.
    pub async fn connect_many(&self, n: usize) -> Result<Vec<Connection>, ClientError> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.connect().await?);
        }
        Ok(out)
    }
}

fn connect_reason(e: &tonic::transport::Error) -> String {
    let chain = error_chain(e);
    if chain.contains("Connection refused") {
        format!("{chain} (is custval-server running and listening there?)")
    } else {
        chain
    }
}

/// Adds `authorization: Bearer <token>` to every call when a token is configured.
#[derive(Clone, Default)]
pub struct BearerToken(Option<MetadataValue<Ascii>>);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken")
            .field("set", &self.0.is_some())
            .finish()
    }
}

impl BearerToken {
    pub fn new(token: Option<&str>) -> Result<BearerToken, ClientError> {
        match token.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(BearerToken(None)),
            Some(t) => {
                let mut value: MetadataValue<Ascii> =
                    format!("Bearer {t}").parse().map_err(|_| {
                        ClientError::Invalid(
                            "the token has characters an HTTP header cannot carry".into(),
                        )
                    })?;
                value.set_sensitive(true);
                Ok(BearerToken(Some(value)))
            }
        }
    }
}

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(v) = &self.0 {
            request.metadata_mut().insert("authorization", v.clone());
        }
        Ok(request)
    }
}

/// A channel that carries the token.
pub type AuthChannel = InterceptedService<Channel, BearerToken>;

/// One connection to the server, cheap to clone (clones share the HTTP/2 connection).
#[derive(Debug, Clone)]
pub struct Connection {
    channel: AuthChannel,
    url: String,
    max_message_bytes: usize,
    policy: CallPolicy,
}

impl Connection {
    /// Deadline and retries of calls on this connection.
    pub fn policy(&self) -> &CallPolicy {
        &self.policy
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    pub fn channel(&self) -> AuthChannel {
        self.channel.clone()
    }

    /// custval.v1.Models with the configured message limits.
    pub fn models(&self) -> ModelsClient<AuthChannel> {
        ModelsClient::new(self.channel())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }

    /// custval.v1.Scoring with the configured message limits.
    pub fn scoring(&self) -> ScoringClient<AuthChannel> {
        ScoringClient::new(self.channel())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }

    /// A generic gRPC client on this connection, for calls with custom codecs.
    pub fn grpc(&self) -> tonic::client::Grpc<AuthChannel> {
        tonic::client::Grpc::new(self.channel())
            .max_decoding_message_size(self.max_message_bytes)
            .max_encoding_message_size(self.max_message_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_http_or_https() {
        assert_eq!(
            ConnectOptions::new("localhost:1").url(),
            "http://localhost:1"
        );
        assert!(ConnectOptions::new("http://127.0.0.1:1").endpoint().is_ok());
        assert!(matches!(
            ConnectOptions::new("ftp://x:1").endpoint(),
            Err(ClientError::Url { .. })
        ));
        let mut o = ConnectOptions::new("http://127.0.0.1:1");
        o.tls_ca = Some("ca.pem".into());
        assert!(matches!(o.endpoint(), Err(ClientError::Invalid(_))));
    }

    #[test]
    fn token_goes_into_the_authorization_header() {
        let mut t = BearerToken::new(Some("s3cret")).unwrap();
        let r = t.call(Request::new(())).unwrap();
        assert_eq!(r.metadata().get("authorization").unwrap(), "Bearer s3cret");
        assert!(!format!("{t:?}").contains("s3cret"));
        let mut none = BearerToken::new(None).unwrap();
        assert!(
            none.call(Request::new(()))
                .unwrap()
                .metadata()
                .get("authorization")
                .is_none()
        );
        assert!(BearerToken::new(Some("bad\ntoken")).is_err());
    }
}
