//! The `tokenmint` binary: parse the command line, load settings, start logging, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokenmint::crypto::Alg;
use tokenmint::{cli, commands, config, telemetry};

/// mimalloc rather than glibc malloc: fewer instructions per allocation and no arena
/// growth across actix's worker threads (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// OAuth 2.0 client-credentials server: clients and secrets managed over HTTP, signed
/// JWT access tokens, state in Redis.
///
/// Settings come from config/default.toml, then the TOML file named by --config (or
/// TOKENMINT_CONFIG), then TOKENMINT_<SECTION>__<KEY> environment variables, then flags.
#[derive(Parser)]
#[command(name = "tokenmint", version)]
struct Cli {
    /// A TOML settings file (instead of TOKENMINT_CONFIG).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    #[command(flatten)]
    Local(LocalCommand),
    /// Manage clients on a running server, over its HTTP API (admin credentials from
    /// TOKENMINT_ADMIN_ID / TOKENMINT_ADMIN_SECRET).
    Clients {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::ClientsCommand,
    },
    /// Add or delete a client's secrets on a running server, over its HTTP API.
    Secrets {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(subcommand)]
        command: cli::SecretsCommand,
    },
    /// Get an access token for a client from a running server (a quick test).
    Token {
        #[command(flatten)]
        connection: cli::Connection,
        #[command(flatten)]
        args: cli::TokenArgs,
    },
}

/// The commands that run here, on the server's settings.
#[derive(Subcommand)]
enum LocalCommand {
    /// Run the server.
    Serve {
        /// Development mode, NOT for production: in-memory store unless a Redis URL is set
        /// explicitly, a signing key generated when the keys folder is empty, and an admin
        /// client printed at start.
        #[arg(long)]
        dev: bool,
        /// With --dev: HTTPS with a throwaway local CA and a localhost certificate (made
        /// once in the keys folder's dev-tls/ and reused), as Scalekit's SDKs need.
        #[arg(long, requires = "dev")]
        tls: bool,
        /// Address to listen on (server.bind), e.g. 127.0.0.1:9090.
        #[arg(long, value_name = "HOST:PORT")]
        bind: Option<String>,
    },
    /// Create an environment-level admin client in the configured Redis and print its
    /// id and secret (shown this once).
    BootstrapAdmin {
        /// The admin client's name.
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new PKCS#8 PEM signing key (mode 0600) and print its path and kid.
    Generate {
        /// Signing algorithm: RS256 (RSA 2048), ES256 (P-256) or EdDSA (Ed25519).
        #[arg(long, value_enum)]
        alg: Alg,
        /// Folder to write to (default: keys.dir from the settings).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Key store (keys.source = "redis"): publish the next signing key; it signs after
    /// keys.publish_ahead_secs, and the current one retires after the longest token
    /// lifetime. Refused while another rotation is under way.
    Rotate {
        /// Algorithm of the new key (default: keys.alg).
        #[arg(long, value_enum)]
        alg: Option<Alg>,
    },
    /// Show each signing key's state (published, signing, retiring, retired) and times.
    List {
        /// Print JSON instead of a table.
        #[arg(long, value_enum, default_value = "table")]
        output: ListOutput,
    },
    /// Write a new key-encryption key for the key store (keys.kek_file) to FILE, mode 0600.
    NewKek {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ListOutput {
    Table,
    Json,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The admin CLI talks to a server over HTTP: it needs none of the server's settings.
    let command = match cli.command {
        Command::Clients {
            connection,
            command,
        } => return cli::clients(connection, command).await,
        Command::Secrets {
            connection,
            command,
        } => return cli::secrets(connection, command).await,
        Command::Token { connection, args } => return cli::token(connection, args).await,
        Command::Local(command) => command,
    };
    let loaded = match config::load_from(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("tokenmint: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(&loaded.settings.log) {
        eprintln!("tokenmint: configuration error: {e}");
        return ExitCode::from(2);
    }
    let result = match command {
        LocalCommand::Serve { dev, tls, bind } => {
            let mut loaded = loaded;
            if let Some(bind) = bind {
                loaded.settings.server.bind = bind;
            }
            commands::serve(loaded, dev, tls).await
        }
        LocalCommand::BootstrapAdmin { name } => commands::bootstrap(loaded.settings, &name).await,
        LocalCommand::Keys { command } => match command {
            KeysCommand::Generate { alg, dir } => {
                commands::generate_key(&dir.unwrap_or(loaded.settings.keys.dir), alg)
            }
            KeysCommand::Rotate { alg } => commands::rotate_key(&loaded.settings, alg).await,
            KeysCommand::List { output } => {
                commands::list_keys(&loaded.settings, output == ListOutput::Json).await
            }
            KeysCommand::NewKek { out } => commands::new_kek(&out),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokenmint: {e}");
            ExitCode::FAILURE
        }
    }
}
