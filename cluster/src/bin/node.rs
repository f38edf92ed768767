//! `swaggersocket-node`: a swaggersocket server for devices, the HTTP
//! gateway to them and, with `--nats`, a node of a cluster.
//!
//! ```text
//! swaggersocket-node --listen 127.0.0.1:8081 --gateway 127.0.0.1:9081 \
//!     --nats nats://127.0.0.1:4222 --id node-1 --gateway-token secret
//! ```

use clap::Parser;
use std::net::SocketAddr;
use std::time::Duration;
use swaggersocket::Server;
use swaggersocket_cluster::{Gateway, Node};

/// A swaggersocket server, its HTTP gateway, and optionally a cluster node.
#[derive(Debug, Parser)]
#[command(name = "swaggersocket-node", version)]
struct Args {
    /// Where devices connect (websocket, ws://ADDR/).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where the HTTP gateway listens (GET /peers, ANY /peers/{id}/{path}).
    #[arg(long, default_value = "127.0.0.1:9080")]
    gateway: String,
    /// The NATS server(s) of the cluster (nats://host:4222); alone without.
    #[arg(long)]
    nats: Option<String>,
    /// This node's id in the cluster (letters, digits, - and _).
    #[arg(long)]
    id: Option<String>,
    /// The subject prefix on NATS.
    #[arg(long, default_value = "swaggersocket")]
    prefix: String,
    /// A bearer token the gateway's callers must present (repeatable; also
    /// SWAGGERSOCKET_GATEWAY_TOKEN). Without one the gateway is open: bind
    /// it to loopback or a private network only.
    #[arg(long = "gateway-token")]
    gateway_tokens: Vec<String>,
    /// Heartbeat interval on NATS, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    heartbeat_ms: u64,
    /// After how long without a heartbeat a node and its peers are dropped,
    /// in milliseconds.
    #[arg(long, default_value_t = 3000)]
    ttl_ms: u64,
    /// The longest wait for a peer's response head at the gateway, in
    /// seconds.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
    /// The most devices connected at once (past it, 503 at the upgrade).
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// An OpenAPI document (JSON) of the devices, served at GET /openapi.json.
    #[arg(long)]
    openapi: Option<std::path::PathBuf>,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Err(e) = run(Args::parse()).await {
        eprintln!("swaggersocket-node: {e}");
        std::process::exit(1);
    }
}

async fn run(mut args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(token) = std::env::var("SWAGGERSOCKET_GATEWAY_TOKEN") {
        if !token.is_empty() {
            args.gateway_tokens.push(token);
        }
    }
    let server = Server::builder()
        .max_connections(args.max_connections)
        .bind(&args.listen)
        .await
        .map_err(|e| format!("listening on {} failed: {e}", args.listen))?;
    let devices = server.local_addr();
    let mut builder = Node::builder().prefix(&args.prefix).heartbeat(
        Duration::from_millis(args.heartbeat_ms),
        Duration::from_millis(args.ttl_ms),
    );
    if let Some(id) = &args.id {
        builder = builder.id(id);
    }
    if let Some(url) = &args.nats {
        builder = builder.nats(url);
    }
    let node = builder.start(server).await?;
    let mut gateway = Gateway::new(node.clone()).timeout(Duration::from_secs(args.timeout_s));
    if !args.gateway_tokens.is_empty() {
        gateway = gateway.bearer_tokens(args.gateway_tokens.clone());
    }
    if let Some(path) = &args.openapi {
        let doc = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        gateway = gateway
            .openapi(&doc)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(&args.gateway)
        .await
        .map_err(|e| format!("listening on {} failed: {e}", args.gateway))?;
    let http = listener.local_addr()?;
    println!(
        "node {}: devices connect to ws://{devices}/, gateway on http://{http}/peers{}{}",
        node.id(),
        match &args.nats {
            Some(url) => format!(", cluster over {url}"),
            None => ", alone (no --nats)".into(),
        },
        if args.gateway_tokens.is_empty() {
            ", gateway WITHOUT authentication"
        } else {
            ""
        },
    );
    let app = gateway
        .router()
        .into_make_service_with_connect_info::<SocketAddr>();
    let stop = node.clone();
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = tokio::signal::ctrl_c().await;
            println!("stopping: the calls under way get 5 s");
            stop.shutdown(Duration::from_secs(5)).await;
        })
        .await?;
    Ok(())
}
