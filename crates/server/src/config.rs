//! Settings for every command, layered: embedded defaults, then the TOML config file, then
//! environment variables and flags (clap reads both; a flag wins over its variable), then
//! validation. Relative paths in a config file are relative to the file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

use crate::cli::{Cli, LogFormat, LogLevel, ServeArgs};
use crate::public_url::{HttpUrl, RtmpUrl, WsUrl};

/// Default HTTP/WebSocket listen address.
pub const DEFAULT_HTTP: &str = "127.0.0.1:8080";
/// Default RTMP listen address.
pub const DEFAULT_RTMP: &str = "127.0.0.1:1935";
/// Default data folder (relative to the working directory).
pub const DEFAULT_DATA: &str = "duet-data";
/// The WebRTC UDP socket of the embedded default: loopback, a free port.
pub const DEFAULT_WEBRTC_UDP: &str = "127.0.0.1:0";

/// The config file's keys. Unknown keys are an error, so a typo never silently does nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    data: Option<PathBuf>,
    log_level: Option<LogLevel>,
    log_format: Option<LogFormat>,
    http: Option<SocketAddr>,
    rtmp: Option<SocketAddr>,
    public_ws_url: Option<WsUrl>,
    public_rtmp_url: Option<RtmpUrl>,
    public_http_url: Option<HttpUrl>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    acme_domain: Option<Vec<String>>,
    acme_email: Option<String>,
    acme_directory: Option<String>,
    acme_ca_root: Option<PathBuf>,
    heartbeat_secs: Option<Ranged<1, 300>>,
    resume_grace_secs: Option<Ranged<0, 3600>>,
    rtmp_handshake_timeout_secs: Option<Ranged<1, 60>>,
    http_header_timeout_secs: Option<Ranged<1, 300>>,
    http_idle_timeout_secs: Option<Ranged<1, 3600>>,
    http_max_connections: Option<Ranged<1, MAX_CAP>>,
    http_max_connections_per_ip: Option<Ranged<1, MAX_CAP>>,
    rtmp_max_connections: Option<Ranged<1, MAX_CAP>>,
    rtmp_max_connections_per_ip: Option<Ranged<1, MAX_CAP>>,
    webrtc_udp: Option<SocketAddr>,
    webrtc_tcp: Option<SocketAddr>,
    webrtc_public_ip: Option<std::net::IpAddr>,
    webrtc_max_peers: Option<Ranged<1, MAX_WEBRTC_PEERS>>,
    webrtc_max_stream_players: Option<Ranged<1, MAX_WEBRTC_PEERS>>,
    redis_url: Option<String>,
    node_id: Option<String>,
    internal_host: Option<String>,
    hls_segment_secs: Option<Ranged<1, 10>>,
    hls_part_ms: Option<Ranged<100, 1000>>,
    hls_window: Option<Ranged<3, 30>>,
    record_dir: Option<PathBuf>,
    record_segment_secs: Option<Ranged<1, 86_400>>,
    record_max_bytes: Option<Ranged<10_000, { u64::MAX }>>,
    record_keep_days: Option<Ranged<1, 36_500>>,
    mixer_ffmpeg: Option<PathBuf>,
    mixer_tasks: Option<Ranged<0, 1000>>,
    mixer_tasks_per_app: Option<Ranged<1, 1000>>,
}

/// The most WebRTC peers a setting takes.
pub const MAX_WEBRTC_PEERS: u64 = 100_000;

/// The largest connection cap a setting takes.
pub const MAX_CAP: u64 = crate::http::limits::MAX_CAP as u64;

/// An integer setting that must lie in `MIN..=MAX`; checked while parsing so errors get a line.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "u64")]
pub struct Ranged<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Ranged<MIN, MAX> {
    type Error = String;
    fn try_from(v: u64) -> Result<Self, String> {
        if (MIN..=MAX).contains(&v) { Ok(Self(v)) } else { Err(format!("must be from {MIN} to {MAX}")) }
    }
}

/// What every command needs.
#[derive(Debug, Clone)]
pub struct Common {
    /// The data folder (the SQLite registry and uploaded SDK logs).
    pub data: PathBuf,
    /// Log verbosity.
    pub log_level: LogLevel,
    /// Log lines as text or JSON.
    pub log_format: LogFormat,
    /// A cluster's Redis (`redis://…`), checked; `None`: no cluster.
    pub redis_url: Option<String>,
}

/// A cluster's Redis is named by a `redis://` URL (TLS, `rediss://`, is not offered yet).
fn check_redis_url(url: &str) -> anyhow::Result<()> {
    if !url.starts_with("redis://") {
        let shown = crate::cluster::redacted(url);
        bail!("--redis-url {shown:?}: a cluster's Redis is given as redis://[user:password@]host:port[/db]");
    }
    Ok(())
}

impl Common {
    /// The registry: the data folder's SQLite file, with the cluster's shared configuration
    /// when `--redis-url` is given (which must then be reachable).
    pub fn registry(&self) -> anyhow::Result<crate::store::registry::Registry> {
        let registry = crate::store::registry::Registry::open(&self.data)?;
        Ok(match &self.redis_url {
            Some(url) => {
                check_redis_url(url)?;
                registry.with_shared(crate::store::shared::SharedConfig::connect(url)?)
            }
            None => registry,
        })
    }
}

/// What `duet serve` needs beyond [`Common`].
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// Shared settings.
    pub common: Common,
    /// HTTP/WebSocket listen address.
    pub http: SocketAddr,
    /// RTMP listen address.
    pub rtmp: SocketAddr,
    /// Public signaling address, when not derived from `http`.
    pub public_ws_url: Option<WsUrl>,
    /// Public RTMP base, when not derived from `rtmp`.
    pub public_rtmp_url: Option<RtmpUrl>,
    /// Public HTTP base, when not derived from `http`.
    pub public_http_url: Option<HttpUrl>,
    /// PEM certificate chain and private key; when set, HTTP and WebSocket use TLS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// A certificate from an ACME CA (`--acme-domain`); when set, HTTP and WebSocket use TLS.
    pub acme: Option<crate::acme::AcmeSettings>,
    /// Signaling heartbeat interval.
    pub heartbeat: Duration,
    /// Resume grace period.
    pub resume_grace: Duration,
    /// Time an RTMP connection has to finish its handshake.
    pub rtmp_handshake_timeout: Duration,
    /// Time an HTTP connection has for a complete request head (and the TLS handshake).
    pub http_header_timeout: Duration,
    /// Time an HTTP connection may pass without a byte either way (WebSocket excepted).
    pub http_idle_timeout: Duration,
    /// The HTTP listener's connection caps.
    pub http_connections: CapSettings,
    /// The RTMP listener's connection caps.
    pub rtmp_connections: CapSettings,
    pub webrtc_udp: SocketAddr,
    /// The ICE-TCP listener (`None`: the UDP socket's address, if that TCP port is free).
    pub webrtc_tcp: Option<SocketAddr>,
    pub webrtc_public_ip: Option<std::net::IpAddr>,
    /// WebRTC peers the node takes at once.
    pub webrtc_max_peers: usize,
    /// WHEP players one stream takes at once (`None`: no cap of its own).
    pub webrtc_max_stream_players: Option<usize>,
    /// The cluster to join (`None`: one node).
    pub cluster: Option<crate::cluster::ClusterSettings>,
    /// This node's name.
    pub node_id: String,
    /// The host other nodes reach this one at (`None`: its public URLs).
    pub internal_host: Option<String>,
    /// Where and how recordings are written.
    pub record: crate::media::record::RecordSettings,
    /// How HLS cuts and lists streams.
    pub hls: duet_media::hls::HlsConfig,
    /// The mixer's program and limits.
    pub mixer: crate::mix::MixerSettings,
}

/// A listener's connection caps as set; an unset one is derived from the open-file limit at
/// start (`http::limits`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CapSettings {
    /// Connections open at once.
    pub total: Option<usize>,
    /// Connections open at once from one address (IPv6: one /64).
    pub per_addr: Option<usize>,
}

/// The config file as loaded, with its folder for resolving relative paths.
pub struct Loaded {
    file: FileConfig,
    dir: PathBuf,
}

impl Loaded {
    /// Reads the file named by `--config` / `DUET_CONFIG`, or an empty config when none is named.
    pub fn from_cli(cli: &Cli) -> anyhow::Result<Self> {
        match &cli.config {
            None => Ok(Self { file: FileConfig::default(), dir: PathBuf::from(".") }),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                let file = parse_file(path, &text)?;
                let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
                Ok(Self { file, dir })
            }
        }
    }

    /// Settings shared by all commands.
    pub fn common(&self, cli: &Cli) -> Common {
        Common {
            data: cli
                .data
                .clone()
                .or_else(|| self.path(&self.file.data))
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA)),
            log_level: cli.log_level.or(self.file.log_level).unwrap_or(LogLevel::Info),
            log_format: cli.log_format.or(self.file.log_format).unwrap_or(LogFormat::Text),
            redis_url: cli.redis_url.clone().or_else(|| self.file.redis_url.clone()),
        }
    }

    /// `--acme-*` (or `acme_*` keys), checked; `None` without a domain.
    fn acme(&self, args: &ServeArgs) -> anyhow::Result<Option<crate::acme::AcmeSettings>> {
        let f = &self.file;
        let mut domains = args.acme_domain.clone();
        if domains.is_empty() {
            for d in f.acme_domain.iter().flatten() {
                domains.push(crate::acme::check_domain(d).map_err(|e| anyhow::anyhow!("acme_domain: {e}"))?);
            }
        }
        // Each name once, in the order given.
        let mut seen = std::collections::HashSet::new();
        domains.retain(|d| seen.insert(d.clone()));
        let email = args.acme_email.clone().or_else(|| f.acme_email.clone());
        let directory = args.acme_directory.clone().or_else(|| f.acme_directory.clone());
        let ca_root = args.acme_ca_root.clone().or_else(|| self.path(&f.acme_ca_root));
        if domains.is_empty() {
            if email.is_some() || directory.is_some() || ca_root.is_some() {
                bail!("--acme-email, --acme-directory and --acme-ca-root need --acme-domain");
            }
            return Ok(None);
        }
        if domains.len() > crate::acme::MAX_DOMAINS {
            bail!("--acme-domain: at most {} names in one certificate", crate::acme::MAX_DOMAINS);
        }
        if let Some(e) = &email {
            crate::acme::check_email(e).map_err(|e| anyhow::anyhow!("--acme-email: {e}"))?;
        }
        let directory = directory.unwrap_or_else(|| crate::acme::LETS_ENCRYPT.to_owned());
        if !directory.starts_with("https://") {
            bail!("--acme-directory {directory:?}: an ACME directory is an https:// URL");
        }
        Ok(Some(crate::acme::AcmeSettings { domains, email, directory, ca_root }))
    }

    /// Settings for `duet serve`.
    pub fn serve(&self, cli: &Cli, args: &ServeArgs) -> anyhow::Result<ServeSettings> {
        let f = &self.file;
        let tls = match (
            args.tls_cert.clone().or_else(|| self.path(&f.tls_cert)),
            args.tls_key.clone().or_else(|| self.path(&f.tls_key)),
        ) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!(
                "TLS needs both a certificate and a key: set --tls-cert and --tls-key (tls_cert and tls_key in a config file)"
            ),
        };
        let acme = self.acme(args)?;
        if acme.is_some() && tls.is_some() {
            bail!("--acme-domain and --tls-cert are two ways to get a certificate: choose one");
        }
        let cluster = match self.common(cli).redis_url {
            Some(redis_url) => {
                check_redis_url(&redis_url)?;
                Some(crate::cluster::ClusterSettings { redis_url })
            }
            None => None,
        };
        let node_id =
            args.node_id.clone().or_else(|| f.node_id.clone()).unwrap_or_else(crate::cluster::default_node_name);
        crate::cluster::check_node_name(&node_id).map_err(|e| anyhow::anyhow!("--node-id: {e}"))?;
        let internal_host = args.internal_host.clone().or_else(|| f.internal_host.clone());
        if let Some(host) = &internal_host {
            crate::cluster::check_host(host).map_err(|e| anyhow::anyhow!("--internal-host: {e}"))?;
        }
        Ok(ServeSettings {
            common: self.common(cli),
            http: args.http.or(f.http).unwrap_or_else(|| DEFAULT_HTTP.parse().expect("valid default")),
            rtmp: args.rtmp.or(f.rtmp).unwrap_or_else(|| DEFAULT_RTMP.parse().expect("valid default")),
            public_ws_url: args.public_ws_url.clone().or_else(|| f.public_ws_url.clone()),
            public_rtmp_url: args.public_rtmp_url.clone().or_else(|| f.public_rtmp_url.clone()),
            public_http_url: args.public_http_url.clone().or_else(|| f.public_http_url.clone()),
            tls,
            acme,
            heartbeat: Duration::from_secs(pick(args.heartbeat_secs, f.heartbeat_secs).unwrap_or(10)),
            resume_grace: Duration::from_secs(pick(args.resume_grace_secs, f.resume_grace_secs).unwrap_or(30)),
            rtmp_handshake_timeout: Duration::from_secs(
                pick(args.rtmp_handshake_timeout_secs, f.rtmp_handshake_timeout_secs).unwrap_or(10),
            ),
            http_header_timeout: Duration::from_secs(
                pick(args.http_header_timeout_secs, f.http_header_timeout_secs).unwrap_or(10),
            ),
            http_idle_timeout: Duration::from_secs(
                pick(args.http_idle_timeout_secs, f.http_idle_timeout_secs).unwrap_or(60),
            ),
            http_connections: CapSettings {
                total: cap(pick(args.http_max_connections, f.http_max_connections)),
                per_addr: cap(pick(args.http_max_connections_per_ip, f.http_max_connections_per_ip)),
            },
            rtmp_connections: CapSettings {
                total: cap(pick(args.rtmp_max_connections, f.rtmp_max_connections)),
                per_addr: cap(pick(args.rtmp_max_connections_per_ip, f.rtmp_max_connections_per_ip)),
            },
            webrtc_udp: args
                .webrtc_udp
                .or(f.webrtc_udp)
                .unwrap_or_else(|| DEFAULT_WEBRTC_UDP.parse().expect("valid default")),
            webrtc_tcp: args.webrtc_tcp.or(f.webrtc_tcp),
            webrtc_public_ip: args.webrtc_public_ip.or(f.webrtc_public_ip),
            webrtc_max_peers: pick(args.webrtc_max_peers, f.webrtc_max_peers).unwrap_or(1000) as usize,
            webrtc_max_stream_players: pick(args.webrtc_max_stream_players, f.webrtc_max_stream_players)
                .map(|n| n as usize),
            cluster,
            node_id,
            internal_host,
            hls: duet_media::hls::HlsConfig {
                segment_target_ms: pick(args.hls_segment_secs, f.hls_segment_secs).unwrap_or(2) as u32 * 1000,
                part_target_ms: pick(args.hls_part_ms, f.hls_part_ms).unwrap_or(200) as u32,
                window: pick(args.hls_window, f.hls_window).unwrap_or(6) as usize,
                keep: 3,
            },
            record: crate::media::record::RecordSettings {
                dir: args
                    .record_dir
                    .clone()
                    .or_else(|| f.record_dir.clone())
                    .unwrap_or_else(|| self.common(cli).data.join("recordings")),
                max_secs: pick(args.record_segment_secs, f.record_segment_secs).unwrap_or(3600),
                max_bytes: pick(args.record_max_bytes, f.record_max_bytes).unwrap_or(1 << 30),
                keep_days: pick(args.record_keep_days, f.record_keep_days),
            },
            mixer: crate::mix::MixerSettings {
                ffmpeg: args.mixer_ffmpeg.clone().or_else(|| f.mixer_ffmpeg.clone()).unwrap_or_else(|| "ffmpeg".into()),
                max_tasks: pick(args.mixer_tasks, f.mixer_tasks).unwrap_or(8) as usize,
                max_tasks_per_app: pick(args.mixer_tasks_per_app, f.mixer_tasks_per_app).unwrap_or(4) as usize,
            },
        })
    }

    /// The public bases `duet url` prints with: flag or env, else the config file, else the
    /// default listen addresses.
    pub fn media_bases(&self, rtmp: Option<RtmpUrl>, http: Option<HttpUrl>) -> duet_token::MediaBases {
        let f = &self.file;
        let rtmp_addr = f.rtmp.unwrap_or_else(|| DEFAULT_RTMP.parse().expect("valid default"));
        let http_addr = f.http.unwrap_or_else(|| DEFAULT_HTTP.parse().expect("valid default"));
        let tls = f.tls_cert.is_some();
        let urls = crate::public_url::PublicUrls::resolve(
            None,
            rtmp.or_else(|| f.public_rtmp_url.clone()),
            http.or_else(|| f.public_http_url.clone()),
            http_addr,
            rtmp_addr,
            tls,
        );
        urls.media_bases()
    }

    fn path(&self, p: &Option<PathBuf>) -> Option<PathBuf> {
        p.as_ref().map(|p| if p.is_relative() { self.dir.join(p) } else { p.clone() })
    }
}

/// A flag or variable, else the config file's value.
fn pick<const MIN: u64, const MAX: u64>(flag: Option<u64>, file: Option<Ranged<MIN, MAX>>) -> Option<u64> {
    flag.or(file.map(|r| r.0))
}

/// A cap (at most [`MAX_CAP`], checked by the parsers) as a count.
fn cap(v: Option<u64>) -> Option<usize> {
    v.map(|v| usize::try_from(v).unwrap_or(usize::MAX))
}

/// Parses config text; errors name the file, the line and the key.
pub fn parse_file(path: &Path, text: &str) -> anyhow::Result<FileConfig> {
    let describe = |span: Option<std::ops::Range<usize>>, key: String, message: &str| {
        let line = span.map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        let mut out = format!("config file {}", path.display());
        if let Some(line) = line {
            out += &format!(", line {line}");
        }
        if !key.is_empty() && key != "." {
            out += &format!(", key `{key}`");
        }
        format!("{out}: {}", message.trim().replace('\n', " "))
    };
    let de = toml::de::Deserializer::parse(text)
        .map_err(|e| anyhow::anyhow!(describe(e.span(), String::new(), e.message())))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let inner = e.into_inner();
        anyhow::anyhow!(describe(inner.span(), key, inner.message()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse_file(Path::new("/etc/duet.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_file_parses() {
        let f = parse_file(
            Path::new("x.toml"),
            r#"
data = "/var/lib/duet"
log_level = "debug"
log_format = "json"
http = "0.0.0.0:443"
rtmp = "0.0.0.0:1935"
public_ws_url = "wss://rtc.example.com/ws"
public_rtmp_url = "rtmp://rtc.example.com"
public_http_url = "https://rtc.example.com"
tls_cert = "cert.pem"
tls_key = "key.pem"
acme_domain = ["rtc.example.com", "alt.example.com"]
acme_email = "ops@example.com"
acme_directory = "https://acme-staging-v02.api.letsencrypt.org/directory"
acme_ca_root = "ca.pem"
heartbeat_secs = 5
resume_grace_secs = 0
rtmp_handshake_timeout_secs = 10
http_header_timeout_secs = 10
http_idle_timeout_secs = 60
http_max_connections = 4000
http_max_connections_per_ip = 100
rtmp_max_connections = 2000
rtmp_max_connections_per_ip = 50
webrtc_udp = "0.0.0.0:8443"
webrtc_public_ip = "203.0.113.7"
webrtc_max_peers = 500
"#,
        )
        .unwrap();
        assert_eq!(f.http, Some("0.0.0.0:443".parse().unwrap()));
        assert_eq!(f.public_ws_url.unwrap().as_str(), "wss://rtc.example.com/ws");
        assert_eq!(f.log_format, Some(LogFormat::Json));
        assert_eq!(f.acme_domain.unwrap(), ["rtc.example.com", "alt.example.com"]);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = err("data = \"d\"\n\nhttp = \"localhost\"\n");
        assert!(e.starts_with("config file /etc/duet.toml, line 3, key `http`:"), "{e}");

        let e = err("data = \"d\"\nhtp = \"127.0.0.1:1\"\n");
        assert!(e.contains("line 2") && e.contains("htp"), "{e}");

        let e = err("public_ws_url = \"https://x/ws\"\n");
        assert!(e.contains("line 1") && e.contains("public_ws_url") && e.contains("ws://"), "{e}");

        let e = err("heartbeat_secs = 0\n");
        assert!(e.contains("key `heartbeat_secs`") && e.contains("from 1 to 300"), "{e}");

        let e = err("http_max_connections = 0\n");
        assert!(e.contains("key `http_max_connections`") && e.contains("from 1 to 1000000"), "{e}");

        let e = err("log_level = \"loud\"\n");
        assert!(e.contains("key `log_level`"), "{e}");

        let e = err("log_format = \"xml\"\n");
        assert!(e.contains("key `log_format`"), "{e}");

        let e = err("data = \n");
        assert!(e.starts_with("config file /etc/duet.toml, line 1"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }
}
