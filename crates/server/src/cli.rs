//! The `duet` command line: every subcommand and flag, with the environment variable that can
//! set it. Values are validated while parsing (AppIDs, secrets, addresses, URLs).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use duet_token::AppSecret;
use serde::Deserialize;

use crate::public_url::{HttpUrl, RtmpUrl, WsUrl};

/// Self-hosted real-time audio/video cloud for WeChat mini-programs and browsers.
#[derive(Debug, Parser)]
#[command(name = "duet", version)]
pub struct Cli {
    /// TOML config file (keys: the serve flags with `_` for `-`, plus data and log_level).
    #[arg(long, global = true, env = "DUET_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data folder holding the app registry [default: duet-data].
    #[arg(long, global = true, env = "DUET_DATA", value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Log verbosity [default: info].
    #[arg(long, global = true, env = "DUET_LOG_LEVEL", value_enum)]
    pub log_level: Option<LogLevel>,
    /// Log lines as text (for people) or as one JSON object each (for log shippers) [default: text].
    #[arg(long, global = true, env = "DUET_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// A cluster's Redis (`redis://[user:password@]host:port[/db]`; docs/cluster-design.md): `serve` joins the cluster, and every command reads and writes the cluster's apps, webhook settings and console users there [default: no cluster, the data folder's registry].
    #[arg(long, global = true, env = "DUET_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (signaling, media, console) with embedded defaults.
    Serve(Box<ServeArgs>),
    /// Manage apps (AppID + ServerSecret).
    #[command(subcommand)]
    App(AppCommand),
    /// Mint and inspect token04 login tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Print signed media URLs for external encoders and players (ffmpeg, OBS, VLC).
    #[command(subcommand)]
    Url(UrlCommand),
    /// Manage the web console's users.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Act on a node of a cluster (needs --redis-url).
    #[command(subcommand)]
    Node(NodeCommand),
}

/// `duet node ...`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Ask a node to drain: it takes no new sessions or streams, sends its clients to the other
    /// nodes, and exits (docs/cluster.md).
    Drain {
        /// The node's name (its --node-id).
        #[arg(long)]
        node_id: String,
    },
}

/// `duet admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set a console user's password (creating the user); prints a generated one when none is given.
    Password {
        /// The console user.
        #[arg(long, default_value = "admin")]
        username: String,
        /// The new password (at least 10 characters).
        #[arg(long, env = "DUET_ADMIN_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
}

/// `duet url ...`.
#[derive(Debug, Subcommand)]
pub enum UrlCommand {
    /// A signed publish URL (RTMP for encoders, WHIP for browsers).
    Publish {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// The stream ID ([0-9A-Za-z_-], at most 256 bytes).
        #[arg(long)]
        stream_id: String,
        /// Who publishes (shown to the room as the stream's user).
        #[arg(long, default_value = "encoder")]
        user_id: String,
        /// Announce the stream in this room while it is live.
        #[arg(long)]
        room_id: Option<String>,
        /// Lifetime in seconds (the URL must be used before it expires; a running stream is not cut).
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..))]
        ttl: u32,
        /// RTMP, or WHIP (the WebRTC endpoint a browser posts its SDP offer to).
        #[arg(long, value_enum, default_value = "rtmp")]
        format: PublishFormat,
        /// Public RTMP base [default: rtmp://127.0.0.1:1935; or public_rtmp_url from --config].
        #[arg(long, env = "DUET_PUBLIC_RTMP_URL", value_name = "URL")]
        public_rtmp_url: Option<RtmpUrl>,
        /// Public HTTP base, for WHIP [default: http://127.0.0.1:8080; or public_http_url from --config].
        #[arg(long, env = "DUET_PUBLIC_HTTP_URL", value_name = "URL")]
        public_http_url: Option<HttpUrl>,
    },
    /// A signed play URL.
    Play {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// The stream ID.
        #[arg(long)]
        stream_id: String,
        /// Who plays.
        #[arg(long, default_value = "viewer")]
        user_id: String,
        /// RTMP or HTTP-FLV.
        #[arg(long, value_enum, default_value = "rtmp")]
        format: PlayFormat,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..))]
        ttl: u32,
        /// Public RTMP base [default: rtmp://127.0.0.1:1935].
        #[arg(long, env = "DUET_PUBLIC_RTMP_URL", value_name = "URL")]
        public_rtmp_url: Option<RtmpUrl>,
        /// Public HTTP base [default: http://127.0.0.1:8080].
        #[arg(long, env = "DUET_PUBLIC_HTTP_URL", value_name = "URL")]
        public_http_url: Option<HttpUrl>,
    },
}

/// Publish URL formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PublishFormat {
    /// rtmp://... (ffmpeg, OBS, `<live-pusher>`)
    Rtmp,
    /// http(s)://.../whip/APP/STREAM (WebRTC-HTTP ingestion from a browser: H.264 video)
    Whip,
}

/// Play URL formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlayFormat {
    /// rtmp://...
    Rtmp,
    /// http(s)://.../live/APP/STREAM.flv
    Flv,
    /// http(s)://.../live/APP/STREAM.mp4 (fragmented MP4 for browsers' Media Source Extensions)
    Mp4,
    /// http(s)://.../whep/APP/STREAM (WebRTC playback: a browser POSTs its SDP offer)
    Whep,
    /// http(s)://.../live/APP/STREAM.m3u8 (HLS and low-latency HLS)
    Hls,
}

/// An app's recording policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RecordPolicy {
    /// Every stream.
    All,
    /// Only streams the HTTP API asks for.
    None,
}

/// `duet serve` flags.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// HTTP/WebSocket listen address [default: 127.0.0.1:8080].
    #[arg(long, env = "DUET_HTTP", value_name = "ADDR")]
    pub http: Option<SocketAddr>,
    /// RTMP listen address [default: 127.0.0.1:1935].
    #[arg(long, env = "DUET_RTMP", value_name = "ADDR")]
    pub rtmp: Option<SocketAddr>,
    /// Signaling address given to clients, e.g. wss://rtc.example.com/ws [default: from --http].
    #[arg(long, env = "DUET_PUBLIC_WS_URL", value_name = "URL")]
    pub public_ws_url: Option<WsUrl>,
    /// Base of issued RTMP URLs, e.g. rtmp://rtc.example.com [default: from --rtmp].
    #[arg(long, env = "DUET_PUBLIC_RTMP_URL", value_name = "URL")]
    pub public_rtmp_url: Option<RtmpUrl>,
    /// Base of issued HTTP(S) URLs, e.g. https://rtc.example.com [default: from --http].
    #[arg(long, env = "DUET_PUBLIC_HTTP_URL", value_name = "URL")]
    pub public_http_url: Option<HttpUrl>,
    /// PEM certificate chain; with --tls-key, HTTP and WebSocket are served over TLS.
    #[arg(long, env = "DUET_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "DUET_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Obtain and renew the TLS certificate of this domain over ACME (Let's Encrypt unless --acme-directory), instead of --tls-cert; the CA validates it on the HTTP listener (TLS-ALPN-01), which must be reachable on port 443 of the domain. Repeat (or separate with commas) for more names.
    #[arg(long = "acme-domain", env = "DUET_ACME_DOMAIN", value_name = "DOMAIN", value_delimiter = ',', value_parser = parse_acme_domain)]
    pub acme_domain: Vec<String>,
    /// Address the CA writes to about the certificate (expiry warnings).
    #[arg(long, env = "DUET_ACME_EMAIL", value_name = "EMAIL", value_parser = parse_acme_email)]
    pub acme_email: Option<String>,
    /// The ACME CA's directory URL [default: Let's Encrypt, https://acme-v02.api.letsencrypt.org/directory].
    #[arg(long, env = "DUET_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// PEM root certificate the ACME directory's HTTPS chains to, for a private or test CA [default: the public roots].
    #[arg(long, env = "DUET_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,
    /// Signaling heartbeat interval announced to clients; silent connections are dropped after 3 intervals [default: 10].
    #[arg(long, env = "DUET_HEARTBEAT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=300))]
    pub heartbeat_secs: Option<u64>,
    /// How long a session whose connection dropped may be resumed [default: 30].
    #[arg(long, env = "DUET_RESUME_GRACE_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub resume_grace_secs: Option<u64>,
    /// Time an RTMP connection has to finish its handshake before it is closed [default: 10].
    #[arg(long, env = "DUET_RTMP_HANDSHAKE_TIMEOUT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=60))]
    pub rtmp_handshake_timeout_secs: Option<u64>,
    /// Time an HTTP connection has, from the accept or its previous response, to send a complete request head (and, with TLS, to finish the handshake first) [default: 10].
    #[arg(long, env = "DUET_HTTP_HEADER_TIMEOUT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=300))]
    pub http_header_timeout_secs: Option<u64>,
    /// Time an HTTP connection may pass without a byte either way before it is closed (WebSocket excepted) [default: 60].
    #[arg(long, env = "DUET_HTTP_IDLE_TIMEOUT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http_idle_timeout_secs: Option<u64>,
    /// HTTP connections open at once [default: half of what the open-file limit leaves after a reserve].
    #[arg(long, env = "DUET_HTTP_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_CAP))]
    pub http_max_connections: Option<u64>,
    /// HTTP connections open at once from one address (IPv6: one /64) [default: 256, at most --http-max-connections].
    #[arg(long, env = "DUET_HTTP_MAX_CONNECTIONS_PER_IP", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_CAP))]
    pub http_max_connections_per_ip: Option<u64>,
    /// RTMP connections open at once [default: half of what the open-file limit leaves after a reserve].
    #[arg(long, env = "DUET_RTMP_MAX_CONNECTIONS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_CAP))]
    pub rtmp_max_connections: Option<u64>,
    /// RTMP connections open at once from one address (IPv6: one /64) [default: 256, at most --rtmp-max-connections].
    #[arg(long, env = "DUET_RTMP_MAX_CONNECTIONS_PER_IP", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_CAP))]
    pub rtmp_max_connections_per_ip: Option<u64>,
    /// The UDP socket every WebRTC (WHIP, WHEP) peer uses [default: 127.0.0.1:0, a free port].
    #[arg(long, env = "DUET_WEBRTC_UDP", value_name = "ADDR")]
    pub webrtc_udp: Option<SocketAddr>,
    /// The TCP listener for ICE over TCP, for browsers whose network blocks UDP [default: the --webrtc-udp address, on TCP].
    #[arg(long, env = "DUET_WEBRTC_TCP", value_name = "ADDR")]
    pub webrtc_tcp: Option<SocketAddr>,
    /// The IP written into ICE candidates, the one browsers reach (behind NAT: the public one) [default: the --webrtc-udp IP].
    #[arg(long, env = "DUET_WEBRTC_PUBLIC_IP", value_name = "IP")]
    pub webrtc_public_ip: Option<std::net::IpAddr>,
    /// WebRTC peers the node takes at once; one more is refused (`webrtc_busy`, 503) [default: 1000].
    #[arg(long, env = "DUET_WEBRTC_MAX_PEERS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_WEBRTC_PEERS))]
    pub webrtc_max_peers: Option<u64>,
    /// WHEP players one stream takes at once; one more is refused (`webrtc_stream_busy`, 429) [default: no cap beyond the node's and the app's].
    #[arg(long, env = "DUET_WEBRTC_MAX_STREAM_PLAYERS", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=crate::config::MAX_WEBRTC_PEERS))]
    pub webrtc_max_stream_players: Option<u64>,
    /// This node's name in the cluster and in the node list: 1-64 characters of A-Z, a-z, 0-9, '.', '_', '-' [default: the host name].
    #[arg(long, env = "DUET_NODE_ID", value_name = "NAME")]
    pub node_id: Option<String>,
    /// HLS segments end at the first keyframe past this many seconds [default: 2].
    #[arg(long, env = "DUET_HLS_SEGMENT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=10))]
    pub hls_segment_secs: Option<u64>,
    /// LL-HLS parts are at most this many milliseconds [default: 200].
    #[arg(long, env = "DUET_HLS_PART_MS", value_name = "MS", value_parser = clap::value_parser!(u64).range(100..=1000))]
    pub hls_part_ms: Option<u64>,
    /// Segments an HLS playlist lists (each kept 3 more after it leaves) [default: 6].
    #[arg(long, env = "DUET_HLS_WINDOW", value_name = "N", value_parser = clap::value_parser!(u64).range(3..=30))]
    pub hls_window: Option<u64>,
    /// Where recordings are written [default: the data folder's `recordings`].
    #[arg(long, env = "DUET_RECORD_DIR", value_name = "DIR")]
    pub record_dir: Option<PathBuf>,
    /// A recording file ends at the first keyframe past this many seconds [default: 3600].
    #[arg(long, env = "DUET_RECORD_SEGMENT_SECS", value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub record_segment_secs: Option<u64>,
    /// A recording file ends at the first keyframe past this many bytes [default: 1073741824].
    #[arg(long, env = "DUET_RECORD_MAX_BYTES", value_name = "BYTES", value_parser = clap::value_parser!(u64).range(10_000..))]
    pub record_max_bytes: Option<u64>,
    /// Recordings older than this many days are deleted (checked hourly) [default: kept].
    #[arg(long, env = "DUET_RECORD_KEEP_DAYS", value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..=36500))]
    pub record_keep_days: Option<u64>,
    /// The media framework program mixer tasks run, one child process per task [default: ffmpeg, from PATH].
    #[arg(long, env = "DUET_MIXER_FFMPEG", value_name = "PATH")]
    pub mixer_ffmpeg: Option<PathBuf>,
    /// Mixer tasks the node runs at once; 0 turns mixing off [default: 8].
    #[arg(long, env = "DUET_MIXER_TASKS", value_name = "N", value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub mixer_tasks: Option<u64>,
    /// Mixer tasks one app runs at once [default: 4].
    #[arg(long, env = "DUET_MIXER_TASKS_PER_APP", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub mixer_tasks_per_app: Option<u64>,
    /// The host (name or IP) other nodes of the cluster reach this one at, on its listening ports: relayed signaling, edge pulls and API requests passed on go there instead of the public URLs, which stay the clients' [default: the public URLs].
    #[arg(long, env = "DUET_INTERNAL_HOST", value_name = "HOST")]
    pub internal_host: Option<String>,
}

/// `duet app ...`.
#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Create an app with a new AppID and ServerSecret.
    Create {
        /// A label for people.
        #[arg(long, default_value = "app")]
        name: String,
        /// Print {"app_id": N, "server_secret": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Register an AppID and ServerSecret already used elsewhere, so existing token servers keep working.
    Import {
        /// The AppID (1 to 4294967295).
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// The 32-character ServerSecret.
        #[arg(long, env = "DUET_IMPORT_SECRET", hide_env_values = true)]
        secret: AppSecret,
        /// A label for people.
        #[arg(long, default_value = "imported")]
        name: String,
        /// Print {"app_id": N, "server_secret": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// List apps (without secrets).
    List {
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one app, including its ServerSecret.
    Show {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace an app's ServerSecret; tokens signed with the old one stop working.
    RotateSecret {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// Print {"app_id": N, "server_secret": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Set the latency budget of the app's streams: how long players' bytes may wait to be
    /// written together (0, frame, or milliseconds up to 1000; a publish URL's `latency=`
    /// overrides it per stream; docs/media.md).
    Latency {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// 0 (every message at once), frame (one write per video frame: calls; the default),
        /// or milliseconds (e.g. 40, 350: broadcasts to many).
        budget: duet_media::LatencyBudget,
    },
    /// Set the app's recording policy: `all` records every stream published from now on, `none`
    /// only the streams the HTTP API asks for (docs/recording.md).
    Record {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// all or none.
        #[arg(long, value_enum)]
        policy: RecordPolicy,
    },
    /// Set or show which web pages may call the app's media endpoints from a browser (WHIP,
    /// WHEP, HTTP-FLV/fMP4 plays; docs/webrtc.md). Requests without an Origin header (ffmpeg,
    /// mini-programs) are never refused for it. Applies to the next request.
    Origins {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// `*` (any page: the default), `none` (no page), or exact origins, scheme://host[:port]
        /// (e.g. https://call.example.com http://localhost:5173). None given: show the setting.
        #[arg(value_parser = parse_origin)]
        origins: Vec<String>,
    },
    /// Set the WebRTC peers (WHIP publishers, WHEP players) the app may hold at once; one more
    /// is refused with webrtc_app_busy (429). The node's --webrtc-max-peers still holds.
    WebrtcPeers {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// A number of peers (1 to 100000), or `none` (no cap beyond the node's).
        #[arg(long, value_parser = parse_peer_cap)]
        max: u32,
    },
    /// Set, show or remove the app's webhook (events POSTed to your server, docs/http-api.md).
    Webhook {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// Where to POST events (http:// or https://).
        #[arg(long, conflicts_with = "clear")]
        url: Option<String>,
        /// The signing secret (default: a new random one, printed once).
        #[arg(long, requires = "url", env = "DUET_WEBHOOK_SECRET", hide_env_values = true)]
        secret: Option<String>,
        /// Remove the webhook and drop its undelivered events.
        #[arg(long)]
        clear: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an app; its users can no longer log in.
    Delete {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

/// `duet token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Print a token04 for a user, signed with the app's ServerSecret.
    Mint {
        /// The AppID.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// The userID the token is for.
        #[arg(long)]
        user_id: String,
        /// Limit the token to this room (writes a privilege payload).
        #[arg(long)]
        room_id: Option<String>,
        /// Grant room login (privilege 1; writes a privilege payload).
        #[arg(long)]
        allow_login: bool,
        /// Grant publishing (privilege 2; writes a privilege payload).
        #[arg(long)]
        allow_publish: bool,
        /// Only these stream IDs may be published (repeatable; writes a privilege payload).
        #[arg(long = "stream-id", value_name = "STREAM_ID")]
        stream_ids: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u32).range(1..))]
        ttl: u32,
    },
    /// Verify a token with the app's ServerSecret and print what it holds as JSON.
    Inspect {
        /// The AppID to verify against.
        #[arg(long, value_parser = parse_app_id, allow_hyphen_values = true)]
        app_id: u32,
        /// The token, or `-` to read it from standard input.
        #[arg(long)]
        token: String,
        /// Also require the token to belong to this userID.
        #[arg(long)]
        user_id: Option<String>,
    },
}

/// Log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default.
    Info,
    /// Verbose.
    Debug,
    /// Everything.
    Trace,
}

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line of text per event (coloured on a terminal).
    Text,
    /// One JSON object per line: `timestamp`, `level`, `fields` (`message` and the event's
    /// fields), `span`/`spans` where inside one.
    Json,
}

fn parse_acme_domain(s: &str) -> Result<String, String> {
    crate::acme::check_domain(s)
}

fn parse_acme_email(s: &str) -> Result<String, String> {
    crate::acme::check_email(s).map(|()| s.to_owned())
}

/// `*`, `none`, or one origin (normalised; `bad_origin` otherwise).
fn parse_origin(s: &str) -> Result<String, String> {
    match s {
        "*" | "none" => Ok(s.to_owned()),
        _ => crate::http::cors::normalise(s).map_err(|e| e.to_string()),
    }
}

/// An app's WebRTC peer cap: 1 to 100,000, or `none` (0).
fn parse_peer_cap(s: &str) -> Result<u32, String> {
    match s {
        "none" => Ok(0),
        _ => match s.parse::<u32>() {
            Ok(n) if (1..=crate::config::MAX_WEBRTC_PEERS as u32).contains(&n) => Ok(n),
            _ => Err(format!("a number of peers from 1 to {}, or none", crate::config::MAX_WEBRTC_PEERS)),
        },
    }
}

/// AppIDs are u32 and never 0.
pub fn parse_app_id(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err("AppID must be a whole number from 1 to 4294967295".into()),
    }
}
