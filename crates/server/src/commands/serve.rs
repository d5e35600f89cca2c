//! `duet serve`: open the registry, bind the listeners, print what a developer needs next, run
//! until SIGINT/SIGTERM, then stop accepting and give open connections a short grace period.
//! A node of a cluster drains first on SIGTERM or `duet node drain` (its clients go elsewhere).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use duet_token::Grant;
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::config::ServeSettings;
use crate::http::server::HttpLimits;
use crate::http::tls::load_config;
use crate::http::{AppState, router};
use crate::media::MediaContext;
use crate::metrics::Metrics;
use crate::public_url::PublicUrls;
use crate::signaling::{Signaling, room_config};
use crate::store::registry::{App, Registry};

/// How long open connections may take to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a draining node waits for its clients to leave before it stops anyway.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(30);
/// The console user created on first start.
pub const CONSOLE_USER: &str = "admin";
/// The user the printed test token is for.
pub const TEST_USER: &str = "test-user";
/// Lifetime of the printed test token.
pub const TEST_TOKEN_TTL: u32 = 24 * 3600;

/// Runs the server until a shutdown signal.
pub fn run(settings: ServeSettings) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(serve(settings))
}

/// The ICE-TCP listener: `--webrtc-tcp` (which must bind), else the UDP socket's address on
/// TCP when that port is free (without it, browsers that cannot use UDP cannot connect).
async fn webrtc_tcp(
    asked: Option<std::net::SocketAddr>,
    udp: std::net::SocketAddr,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    if let Some(addr) = asked {
        let listener = tokio::net::TcpListener::bind(addr).await;
        return Ok(Some(listener.with_context(|| format!("cannot bind {addr} for ICE over TCP (--webrtc-tcp)"))?));
    }
    match tokio::net::TcpListener::bind(udp).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) => {
            tracing::warn!("no ICE over TCP: cannot bind {udp} on TCP ({e}); set --webrtc-tcp");
            Ok(None)
        }
    }
}

async fn serve(s: ServeSettings) -> anyhow::Result<()> {
    let registry = Arc::new(s.common.registry()?);
    let _serving = registry.claim_for_serving()?;
    let (app, created) = default_app(&registry)?;
    let acme = s.acme.clone().map(|a| crate::acme::Acme::new(a, &s.common.data, crate::os::now_unix())).transpose()?;
    let tls = match (&s.tls, &acme) {
        (Some((cert, key)), _) => Some(load_config(cert, key)?),
        (None, Some(acme)) => Some(acme.server_config()?),
        (None, None) => None,
    };
    let mut sigterm = signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;

    let http = bind(s.http, "HTTP", "--http").await?;
    let rtmp = bind(s.rtmp, "RTMP", "--rtmp").await?;
    let udp = tokio::net::UdpSocket::bind(s.webrtc_udp).await.with_context(|| {
        format!("cannot bind {} for WebRTC (choose another address with --webrtc-udp)", s.webrtc_udp)
    })?;
    let metrics = Arc::new(Metrics::default());
    let tcp = webrtc_tcp(s.webrtc_tcp, udp.local_addr()?).await?.map(|l| (l, metrics.webrtc_tcp_connections.clone()));
    let (http_addr, rtmp_addr) = (http.local_addr()?, rtmp.local_addr()?);
    let webrtc = crate::media::webrtc::WebRtc::start(
        (udp, tcp),
        s.webrtc_public_ip,
        s.webrtc_max_peers,
        s.webrtc_max_stream_players,
    )?;
    let urls =
        PublicUrls::resolve(s.public_ws_url, s.public_rtmp_url, s.public_http_url, http_addr, rtmp_addr, tls.is_some());
    let media_hub = Arc::new(duet_media::Hub::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let internal =
        s.internal_host.as_deref().map(|host| internal_addresses(host, (http_addr, rtmp_addr), tls.is_some()));
    let cluster = join_cluster(
        (&s.cluster, &s.node_id),
        (&urls, internal),
        metrics.clone(),
        media_hub.clone(),
        stopped(stop_rx.clone()),
    )
    .await?;
    let token = crate::store::credentials::mint_token(&app, TEST_USER, &Grant::everything(), TEST_TOKEN_TTL)?;
    let console_password = first_admin(&registry)?;
    print_banner(
        &urls,
        http_addr,
        rtmp_addr,
        webrtc.candidates(),
        &registry,
        &app,
        created,
        console_password.as_deref(),
        &token,
    );

    let (webhooks, webhook_writer) = crate::webhooks::Webhooks::start(registry.clone(), cluster.webhook_link())?;
    let apps = crate::store::apps::Apps::new(registry.clone());
    let mixer = crate::mix::Mixer::new(s.mixer.clone());
    let quality = crate::quality::Quality::default();
    let signaling = Signaling::start(
        room_config(&urls, s.heartbeat, s.resume_grace),
        apps.clone(),
        metrics.clone(),
        media_hub.clone(),
        crate::signaling::HubOutlets {
            webhooks: webhooks.clone(),
            cluster: cluster.clone(),
            mixer: mixer.clone(),
            quality: quality.clone(),
        },
    );
    let media = MediaContext {
        hub: media_hub,
        fanout: Default::default(),
        apps: apps.clone(),
        signaling: signaling.clone(),
        metrics: metrics.clone(),
        webrtc,
        cluster: cluster.clone(),
        edges: Default::default(),
        hls: Arc::new(crate::media::hls::HlsStreams::new(s.hls)),
        recorders: Arc::new(crate::media::record::Recorders::new(s.record.clone())),
        webhooks: webhooks.clone(),
    };
    mixer.attach(media.clone(), rtmp_addr).await;

    let (hub, in_cluster) = (signaling.clone(), cluster.clone());
    tokio::spawn(async move {
        // In a cluster, SIGTERM (what service managers send) and `duet node drain` drain the
        // node first; SIGINT, or a second signal while draining, stops it at once.
        let drain = tokio::select! {
            _ = tokio::signal::ctrl_c() => false,
            _ = sigterm.recv() => in_cluster.health().is_some(),
            () = in_cluster.drain_asked() => true,
        };
        if drain {
            tokio::select! {
                () = drain_node(&hub, &in_cluster) => {}
                _ = tokio::signal::ctrl_c() => {}
                _ = sigterm.recv() => {}
            }
        }
        tracing::info!("shutdown signal received; no new connections are accepted");
        let _ = stop_tx.send(true);
        hub.shutdown().await;
    });

    tokio::spawn(crate::media::record::retain(s.record.clone()));
    let refresher = apps.clone();
    let until = stopped(stop_rx.clone());
    tokio::spawn(async move { refresher.refresh_until(until).await });
    let (http_caps, rtmp_caps) = crate::http::limits::listener_caps(s.http_connections, s.rtmp_connections);
    let rtmp_config =
        duet_rtmp::SessionConfig { handshake_timeout: s.rtmp_handshake_timeout, ..duet_rtmp::SessionConfig::default() };
    tokio::spawn(crate::media::rtmp::serve(rtmp, media.clone(), rtmp_config, rtmp_caps, stop_rx.clone()));
    let state = AppState {
        registry,
        apps: apps.clone(),
        metrics: metrics.clone(),
        start_time: crate::os::now_unix(),
        signaling: signaling.clone(),
        media,
        logs: Arc::new(crate::http::httplog::LogStore::new(&s.common.data)),
        webhooks,
        nonces: Arc::new(crate::http::api::auth::Nonces::default()),
        console: Arc::new(crate::http::console::ConsoleSessions::default()),
        urls: urls.clone(),
        tls: tls.is_some(),
        cluster: cluster.clone(),
        mixer,
        quality,
    };
    let limits =
        HttpLimits { header_timeout: s.http_header_timeout, idle_timeout: s.http_idle_timeout, connections: http_caps };
    let server = crate::http::server::serve(
        http,
        tls,
        router(state.clone()),
        Some(state.media.clone()),
        limits,
        metrics,
        stop_rx.clone(),
    );
    tracing::info!(http = %http_addr, rtmp = %rtmp_addr, tls = state.tls, acme = acme.is_some(), "duet is serving");
    if let Some(acme) = acme {
        tokio::spawn(acme.run(stop_rx.clone()));
    }
    // WebSocket connections outlive the HTTP server's graceful shutdown: wait for them too, so
    // every client gets its `close` push.
    let everything = async {
        server.await;
        signaling.all_closed().await;
        anyhow::Ok(())
    };
    tokio::select! {
        result = everything => result?,
        () = async { stopped(stop_rx).await; tokio::time::sleep(SHUTDOWN_GRACE).await } => {
            tracing::warn!("connections still open {}s after shutdown began; closing them", SHUTDOWN_GRACE.as_secs());
        }
    }
    // The hub ends every session and stream, hears their media ends, and hands the events over;
    // then the queue writer stores them, before the runtime (and its blocking pool) goes away.
    signaling.shutdown().await;
    if tokio::time::timeout(SHUTDOWN_GRACE, signaling.stopped()).await.is_err() {
        tracing::warn!("the signaling hub did not stop in time; the next start closes what it left open");
    }
    webhook_writer.finish(Duration::from_secs(3)).await;
    cluster.left(Duration::from_secs(2)).await;
    tracing::info!("duet stopped");
    Ok(())
}

/// Drains this node of its cluster: it says so in the registry (no node makes it a room's
/// home any more), its clients are sent to the other nodes (`server_draining` with their URLs;
/// its rooms close, so their next logins make them at home elsewhere), and it waits, at most
/// [`DRAIN_LIMIT`], for every connection to be gone; the shutdown follows.
async fn drain_node(signaling: &Signaling, cluster: &crate::cluster::Cluster) {
    let started = std::time::Instant::now();
    let elsewhere = cluster.elsewhere();
    tracing::info!(to = ?elsewhere, "draining: no new sessions or streams; sending every client to the other nodes");
    cluster.start_draining();
    signaling.drain().await;
    if tokio::time::timeout(DRAIN_LIMIT, signaling.all_closed()).await.is_err() {
        tracing::warn!("clients still connected {} s after the drain began; stopping anyway", DRAIN_LIMIT.as_secs());
    } else {
        tracing::info!(ms = started.elapsed().as_millis() as u64, "drained: every client has left this node");
    }
}

/// Where other nodes reach this one with `--internal-host`: that host on the listening ports.
fn internal_addresses(
    host: &str,
    (http, rtmp): (SocketAddr, SocketAddr),
    tls: bool,
) -> crate::cluster::nodes::Addresses {
    let (ws, web) = if tls { ("wss", "https") } else { ("ws", "http") };
    crate::cluster::nodes::Addresses {
        ws: format!("{ws}://{host}:{}/ws", http.port()),
        rtmp: format!("rtmp://{host}:{}", rtmp.port()),
        http: format!("{web}://{host}:{}", http.port()),
    }
}

/// This node in its cluster (`--redis-url`), or a node of its own.
async fn join_cluster(
    (settings, node_id): (&Option<crate::cluster::ClusterSettings>, &str),
    (urls, internal): (&PublicUrls, Option<crate::cluster::nodes::Addresses>),
    metrics: Arc<Metrics>,
    media: Arc<duet_media::Hub>,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<crate::cluster::Cluster> {
    let (boot, started_ms) = crate::cluster::boot();
    let addresses = crate::cluster::nodes::Addresses {
        ws: urls.ws.to_string(),
        rtmp: urls.rtmp.to_string(),
        http: urls.http.to_string(),
    };
    let internal = internal.unwrap_or_default();
    let me = crate::cluster::nodes::Me { name: node_id.to_owned(), boot, number: 0, started_ms, addresses, internal };
    let load = crate::cluster::load::LoadSource { metrics, media };
    match settings {
        None => Ok(crate::cluster::Cluster::single(me, load)),
        Some(settings) => crate::cluster::Cluster::join(settings, me, load, stop).await,
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    // An error means the sender is gone, which only happens at exit: treat it as stop.
    let _ = rx.wait_for(|stop| *stop).await;
}

async fn bind(addr: SocketAddr, what: &str, flag: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen on {addr} for {what} (is another duet or server using it? choose another address with {flag})")
    })
}

/// The app the banner describes: the oldest one, created on first start.
fn default_app(registry: &Registry) -> anyhow::Result<(App, bool)> {
    if let Some(app) = registry.list()?.into_iter().next() {
        return Ok((app, false));
    }
    match registry.create_first("default", crate::os::now_unix())? {
        Some(app) => Ok((app, true)),
        // Another node of the cluster made it a moment ago.
        None => Ok((registry.list()?.into_iter().next().context("the registry lost its only app")?, false)),
    }
}

/// Creates the console user `admin` on first start; returns its password to print once.
fn first_admin(registry: &Registry) -> anyhow::Result<Option<String>> {
    if registry.admin_count()? > 0 {
        return Ok(None);
    }
    let password = crate::store::password::generate();
    Ok(registry.create_first_admin(CONSOLE_USER, &password)?.then_some(password))
}

#[allow(clippy::too_many_arguments)]
fn print_banner(
    urls: &PublicUrls,
    http: SocketAddr,
    rtmp: SocketAddr,
    webrtc: crate::media::webrtc::offer::Candidates,
    registry: &Registry,
    app: &App,
    created: bool,
    console_password: Option<&str>,
    token: &str,
) {
    let id = app.app_id;
    let secret_line = if created {
        format!("{}   (shown once; `duet app show --app-id {id}` shows it again)", app.secret.expose())
    } else {
        format!("run `duet app show --app-id {id}`")
    };
    let (udp, tcp) = (webrtc.udp, webrtc.tcp.map_or_else(|| "off".to_owned(), |a| a.to_string()));
    let console = match console_password {
        Some(p) => format!("user {CONSOLE_USER}, password {p}   (shown once; `duet admin password` sets another)"),
        None => format!("user {CONSOLE_USER} (`duet admin password` sets a new password)"),
    };
    say!(
        "Duet {version} is running.
  HTTP/WebSocket  {http_url}   (listening on {http}; /ws, /live/*.flv|mp4, /httplog, /api/v1, /healthz, /metrics)
  RTMP            {rtmp_url}   (listening on {rtmp})
  WebRTC          {http_url}/whip|whep/APP/STREAM   (UDP {udp}, TCP {tcp}; `duet url publish --format whip`, `duet url play --format whep`)
  Console         {http_url}/   {console}
  Debug page      {http_url}/debug   (join a room from a browser)
  Data            {db}

{state} app \"{name}\"
  AppID           {id}
  ServerSecret    {secret_line}

In your mini-program page:
  const zg = new ZegoExpressEngine({id}, \"{ws}\");
  await zg.loginRoom(\"room-1\", token, {{ userID: \"{user}\", userName: \"{user}\" }});

Test token for userID \"{user}\" (valid {hours} h; more with `duet token mint --app-id {id} --user-id ID`):
  {token}
",
        version = env!("CARGO_PKG_VERSION"),
        http_url = urls.http,
        rtmp_url = urls.rtmp,
        db = registry.path().display(),
        state = if created { "Created the default" } else { "Default" },
        name = app.name,
        ws = urls.ws,
        user = TEST_USER,
        hours = TEST_TOKEN_TTL / 3600,
    );
}
