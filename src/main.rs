//! The `ferrolb` command line: parses arguments, calls into the library, maps errors to exit
//! codes (0 ok, 1 invalid input or check failure, 2 runtime failure).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use ferrolb::{config, daemon, http};

#[derive(Debug, Parser)]
#[command(
    name = "ferrolb",
    about = "BGP-first load balancer for bare metal",
    version
)]
struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum MigrateTo {
    /// ferrolb.io/v1alpha1 YAML documents.
    Crds,
    /// A node TOML.
    Toml,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (standalone without a [kubernetes] table).
    Run {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate offline: prints `ok` or every error as file:line:col: message.
    Check {
        /// The node config (TOML).
        #[arg(long, short, required_unless_present = "manifests")]
        config: Option<PathBuf>,
        /// A directory of YAML manifests: ferrolb.io/v1alpha1 objects in it are checked.
        #[arg(long)]
        manifests: Option<PathBuf>,
    },
    /// Ask a running daemon for its sessions and services; exits 0 when every session is
    /// Established, 3 when any is not, 2 when the daemon cannot be reached.
    Status {
        #[arg(long, default_value = "http://127.0.0.1:7473")]
        url: String,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the CustomResourceDefinitions (YAML) generated from the Rust types.
    Crds,
    /// Convert MetalLB manifests into ferrolb CRDs or a node TOML (stdout); every field that
    /// cannot be carried over is a `file:line: kind/name: field: why` warning on stderr.
    Migrate {
        /// MetalLB manifests (YAML, several documents per file).
        #[arg(long = "from-metallb", required = true, num_args = 1..)]
        from_metallb: Vec<PathBuf>,
        /// What to print.
        #[arg(long, value_enum, default_value_t = MigrateTo::Crds)]
        to: MigrateTo,
    },
    /// Print version, git commit and enabled features.
    Version,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config } => run(&config, cli.log_format),
        Command::Check { config, manifests } => check(config.as_deref(), manifests.as_deref()),
        Command::Status { url, json } => status(&url, json),
        Command::Crds => match ferrolb::watch::crds::yaml() {
            Ok(y) => {
                print!("{y}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("cannot render the CRDs: {e}");
                ExitCode::from(2)
            }
        },
        Command::Migrate { from_metallb, to } => migrate(&from_metallb, to),
        Command::Version => {
            println!(
                "ferrolb {} (commit {}) features: bgp, standalone",
                env!("CARGO_PKG_VERSION"),
                env!("FERROLB_GIT_COMMIT")
            );
            ExitCode::SUCCESS
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only on a terminal: files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("ferrolb: cannot start the async runtime: {e}");
            None
        }
    }
}

fn run(path: &std::path::Path, format: LogFormat) -> ExitCode {
    init_logging(format);
    let Some(rt) = runtime() else {
        return ExitCode::from(2);
    };
    match rt.block_on(daemon::run(path)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let daemon::DaemonError::Config(errors) = &e {
                for err in &errors.0 {
                    eprintln!("{err}");
                }
            } else {
                eprintln!("ferrolb: {e}");
            }
            tracing::error!("{e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

fn check(config: Option<&std::path::Path>, manifests: Option<&std::path::Path>) -> ExitCode {
    let mut failed = false;
    if let Some(path) = config {
        match config::load(path) {
            Ok(c) => c.warnings.iter().for_each(|w| println!("{w}")),
            Err(errors) => {
                for e in &errors.0 {
                    println!("{e}");
                }
                failed = true;
            }
        }
    }
    if let Some(dir) = manifests {
        let node = config.and_then(|p| config::load(p).ok()).map(|c| c.local());
        let report = ferrolb::watch::manifests::check_dir(dir, node.as_ref());
        for e in &report.errors {
            println!("{e}");
        }
        failed |= !report.errors.is_empty();
    }
    if failed {
        return ExitCode::from(1);
    }
    println!("ok");
    ExitCode::SUCCESS
}

/// Exit 0 when something was converted, 1 when an input cannot be read or parsed (or holds
/// no MetalLB object).
fn migrate(files: &[PathBuf], to: MigrateTo) -> ExitCode {
    let mut m = ferrolb::migrate::Migration::default();
    let mut failed = false;
    for path in files {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                if let Err(e) = ferrolb::migrate::read(&file, &text, &mut m) {
                    eprintln!("{e}");
                    failed = true;
                }
            }
            Err(e) => {
                eprintln!("{file}: cannot read: {e}");
                failed = true;
            }
        }
    }
    if failed {
        return ExitCode::from(1);
    }
    if m.is_empty() {
        m.warnings.iter().for_each(|w| eprintln!("{w}"));
        eprintln!("nothing to convert: no metallb.io object in the input");
        return ExitCode::from(1);
    }
    let (out, warnings) = match to {
        MigrateTo::Crds => match ferrolb::migrate::render_crds(&m) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("cannot render the CRDs: {e}");
                return ExitCode::from(2);
            }
        },
        MigrateTo::Toml => ferrolb::migrate::render_toml(&m),
    };
    print!("{out}");
    m.warnings
        .iter()
        .chain(&warnings)
        .for_each(|w| eprintln!("{w}"));
    ExitCode::SUCCESS
}

fn status(url: &str, json: bool) -> ExitCode {
    let Some(rt) = runtime() else {
        return ExitCode::from(2);
    };
    match rt.block_on(http::fetch_status(url)) {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("ferrolb: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print!("{}", ferrolb::status::render_table(&report));
            }
            // Scriptable: 0 every session Established, 3 any is not, 2 no answer.
            if report.all_established() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            }
        }
        Err(e) => {
            eprintln!("ferrolb: {e}");
            ExitCode::from(2)
        }
    }
}
