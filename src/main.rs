//! The `synface` command line: a thin layer over synface-engine and synface-stages.
//! Exit codes: 0 ok, 1 a stage failed, 2 invalid pipeline or usage, 3 cache or I/O fault,
//! 130 interrupted.

mod alloc;
mod estimate_cmd;
mod faces_cmd;
mod kinds_cmd;
mod logging;
mod model_export;
mod plan_cmd;
mod progress_lines;
mod reporter;
mod runs_cmd;
mod show;
mod slurm_cmd;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use synface_engine::cache::{Cache, CacheError, CacheView, GcOptions};
use synface_engine::gpu::GpuInfo;
use synface_engine::run::{run_plan, RunOptions};
use synface_engine::scheduler::SchedOptions;
use synface_engine::{CancelToken, Plan, Registry};

#[derive(Parser)]
#[command(
    name = "synface",
    version,
    about = "Declarative face-recognition experiments on synthetic faces"
)]
struct Cli {
    /// Cache options, accepted before or after any subcommand (`global`).
    #[command(flatten)]
    cache: CacheArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct CacheArgs {
    /// Cache directory [env: SYNFACE_CACHE] [default: .synface]
    #[arg(long, value_name = "DIR", global = true)]
    cache: Option<PathBuf>,
    /// Seconds to wait for another process using the cache (0: fail at once)
    #[arg(long, value_name = "SECS", default_value_t = 0, global = true)]
    wait: u64,
}

impl CacheArgs {
    fn dir(&self) -> PathBuf {
        self.cache
            .clone()
            .or_else(|| std::env::var_os("SYNFACE_CACHE").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(".synface"))
    }
    fn open(&self) -> Result<Cache, Failure> {
        Cache::open(&self.dir(), Duration::from_secs(self.wait)).map_err(cache_failure)
    }
    /// A read-only view: no lock, nothing written (`plan`, `gc --dry-run`).
    fn view(&self) -> Result<CacheView, Failure> {
        CacheView::open(&self.dir()).map_err(cache_failure)
    }
}

/// A wrong cache directory is a usage error (2); other cache faults exit 3.
fn cache_failure(e: CacheError) -> Failure {
    if e.is_usage() {
        Failure::Usage(format!("error: {e}"))
    } else {
        Failure::Io(e.into())
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: every stage instance is served from the cache or computed
    Run {
        file: PathBuf,
        /// Override a parameter: `stage.param=value` (repeatable)
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        /// CPU threads shared by running stages [default: all cores]
        #[arg(long)]
        jobs: Option<usize>,
        /// GPUs to use: a count (an error if fewer exist), or `auto` (those detected; the CPU,
        /// said once, when there are none) [default: detected]
        #[arg(long, value_name = "N|auto", value_parser = parse_gpus)]
        gpus: Option<GpuRequest>,
        /// Memory budget over the stages' estimates, MiB (0: unlimited)
        #[arg(long, value_name = "MIB", default_value_t = 0)]
        mem: u64,
        /// Stop everything at the first failing stage
        #[arg(long)]
        fail_fast: bool,
        /// Rerun this stage's instances even when cached (repeatable)
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Runs directory [default: runs]
        #[arg(long, value_name = "DIR")]
        runs: Option<PathBuf>,
        #[command(flatten)]
        slurm: slurm_cmd::SlurmArgs,
    },
    /// Show every stage instance: sweep points, key prefix, cached | pending (and why)
    Plan {
        file: PathBuf,
        #[arg(long = "set", value_name = "K=V")]
        set: Vec<String>,
        /// Say why each pending instance must run
        #[arg(long)]
        explain: bool,
        /// Add each instance's estimated compute, peak memory and disk, and the totals
        #[arg(long)]
        estimate: bool,
    },
    /// Results of the pipeline's last run (or of an earlier one) across sweep points
    Show {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs: PathBuf,
        /// A recorded run (a number from `synface runs FILE`) instead of the last one
        #[arg(long, value_name = "ID")]
        run: Option<u64>,
    },
    /// The recorded runs of a pipeline: when, what changed, headline metric
    Runs {
        file: PathBuf,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs: PathBuf,
    },
    /// Compare two recorded runs: parameters and metrics side by side [default: the last two]
    Diff {
        file: PathBuf,
        /// Run numbers (`synface runs FILE`): `A B`, or `A` against the last run
        #[arg(value_name = "RUN", num_args = 0..=2)]
        ids: Vec<u64>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(long, value_name = "DIR", default_value = "runs")]
        runs: PathBuf,
    },
    /// Remove cache entries no kept run references
    Gc {
        /// Only print what would be freed
        #[arg(long)]
        dry_run: bool,
        /// Runs kept per pipeline
        #[arg(long, value_name = "N", default_value_t = 1)]
        keep_last: usize,
        /// Keep every run of this pipeline (repeatable)
        #[arg(long, value_name = "PIPELINE")]
        pin: Vec<String>,
    },
    /// Cache maintenance
    Cache {
        #[command(subcommand)]
        action: CacheAction,
    },
    /// Render synthetic faces straight from the face model (a contact sheet or an image folder)
    Render(faces_cmd::RenderArgs),
    /// Write a cached dataset (a stage's output) as an image folder or a safetensors file
    Export(faces_cmd::ExportArgs),
    /// Run one stage instance of a Slurm job against the shared cache (what `run --executor
    /// slurm` submits; docs/cluster.md). Exit codes: 0 committed, 1 the stage failed, 2 an
    /// unusable task file, 3 cache or I/O fault, 130 stopped by SIGTERM (scancel, time limit)
    Exec {
        /// The task file (`<cache>/slurm/<run>/tasks/<batch>-<i>.json`)
        task: PathBuf,
    },
    /// List the stage kinds, or one kind's parameters, ports and resources
    Kinds {
        /// A kind to describe in full
        name: Option<String>,
        /// Every kind in full, as Markdown (docs/stages.md)
        #[arg(long)]
        markdown: bool,
    },
}

#[derive(Subcommand)]
enum CacheAction {
    /// Rebuild the sled index from the manifest files under actions/
    Rebuild,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Why a command did not succeed; each maps to an exit code.
enum Failure {
    /// Invalid pipeline or usage (2); the message is printed as is.
    Usage(String),
    /// Cache or I/O fault (3).
    Io(anyhow::Error),
    /// A finished run's own exit code (1 or 130).
    Code(u8),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Io(e)
    }
}

/// The stage kinds: synface-stages, plus the testkit kinds when `SYNFACE_TESTKIT=1` in a
/// build with them (the binary `cargo test` builds; release builds have none).
fn registry() -> Registry {
    let mut r = synface_stages::registry();
    if std::env::var("SYNFACE_TESTKIT").is_ok_and(|v| v == "1")
        && !synface_engine::register_testkit(&mut r)
    {
        tracing::warn!("SYNFACE_TESTKIT=1 ignored: this build has no testkit kinds");
    }
    r
}

/// The CUDA devices the kernels crate can reach (none without a driver). Setting
/// `SYNFACE_NO_GPU=1` skips the query.
fn detect_gpus() -> GpuInfo {
    if std::env::var("SYNFACE_NO_GPU").is_ok_and(|v| v == "1") {
        return GpuInfo::none();
    }
    let (count, mem_mb) = synface_kernels::Backend::gpu_inventory();
    GpuInfo { count, mem_mb }
}

/// `--gpus`: a count, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum GpuRequest {
    Count(usize),
    Auto,
}

fn parse_gpus(s: &str) -> Result<GpuRequest, String> {
    if s == "auto" {
        return Ok(GpuRequest::Auto);
    }
    s.parse()
        .map(GpuRequest::Count)
        .map_err(|_| format!("`{s}` is neither a number of GPUs nor `auto`"))
}

/// The GPUs a run may use: never more than exist, so results never claim a device that did
/// not compute them.
fn choose_gpus(req: Option<GpuRequest>, found: GpuInfo) -> Result<GpuInfo, Failure> {
    match req {
        None => Ok(found),
        Some(GpuRequest::Auto) => {
            if found.count == 0 {
                eprintln!("--gpus auto: {}; running on the CPU", no_gpu_reason());
            }
            Ok(found)
        }
        Some(GpuRequest::Count(n)) if n <= found.count => Ok(GpuInfo { count: n, ..found }),
        Some(GpuRequest::Count(n)) => Err(Failure::Usage(format!(
            "--gpus {n}: {} (found {}). Use --gpus auto to run on what is there, or \
             --gpus 0 for the CPU",
            no_gpu_reason(),
            found.count
        ))),
    }
}

fn no_gpu_reason() -> &'static str {
    if cfg!(feature = "cuda") {
        "no CUDA device is visible (check the driver and CUDA_VISIBLE_DEVICES)"
    } else {
        "this synface was built without CUDA support (rebuild with \
         `cargo build --release --features cuda`, see the README)"
    }
}

fn load(file: &Path, set: &[String], reg: &Registry) -> Result<Plan, Failure> {
    synface_engine::load_plan(file, set, reg).map_err(|d| Failure::Usage(d.to_string()))
}

fn install_ctrlc(token: CancelToken) {
    static PRESSES: AtomicUsize = AtomicUsize::new(0);
    let result = ctrlc::set_handler(move || {
        if PRESSES.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "\ninterrupted: stopping running stages (press Ctrl-C again to abort at once)"
            );
            token.cancel();
        } else {
            std::process::exit(130);
        }
    });
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not install the Ctrl-C handler");
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1u64 << 20) as f64
}

#[allow(clippy::too_many_arguments)]
fn cmd_run(
    file: &Path,
    set: &[String],
    jobs: Option<usize>,
    gpus: Option<GpuRequest>,
    mem: u64,
    fail_fast: bool,
    force: Vec<String>,
    runs: Option<PathBuf>,
    slurm: &slurm_cmd::SlurmArgs,
    cache: &CacheArgs,
) -> Result<(), Failure> {
    let runs = runs_dir(runs)?;
    let reg = registry();
    let plan = load(file, set, &reg)?;
    let unknown: Vec<&String> = force
        .iter()
        .filter(|f| !plan.instances.iter().any(|i| &i.stage == *f))
        .collect();
    if !unknown.is_empty() {
        return Err(Failure::Usage(format!(
            "--force: no stage named {unknown:?} in {}",
            file.display()
        )));
    }
    let mut sched = SchedOptions {
        mem_mb: mem,
        fail_fast,
        force: force.into_iter().collect(),
        ..SchedOptions::default()
    };
    if let Some(j) = jobs {
        sched.jobs = j.max(1);
    }
    let mut cache_dir = cache.dir();
    match slurm_cmd::options(slurm, &plan, file, set, &cache_dir)? {
        Some((so, abs_cache)) => {
            sched.slurm = Some(so);
            cache_dir = abs_cache;
        }
        None => sched.gpus = choose_gpus(gpus, detect_gpus())?,
    }
    let opts = RunOptions {
        cache_dir,
        runs_dir: runs,
        wait: Duration::from_secs(cache.wait),
        sched,
    };
    let cancel = CancelToken::new();
    install_ctrlc(cancel.clone());
    let reporter = reporter::Reporter::new(&plan);
    let summary = run_plan(&plan, &reg, &opts, &reporter, &cancel).map_err(|e| match e {
        synface_engine::run::RunError::Cache(e) => cache_failure(e),
        e => Failure::Io(e.into()),
    })?;
    let s = &summary.report.stats;
    println!(
        "{}: ran {}, cached {}, failed {}, skipped {}, cancelled {} in {:.2}s (peak {} threads, {} GPUs)",
        plan.name, s.ran, s.cached, s.failed, s.skipped, s.cancelled, s.secs, s.peak_threads, s.peak_gpus
    );
    println!(
        "cache {}: {} hits, {} misses, {} corrupt, {:.1} MiB written, {:.1} MiB read",
        opts.cache_dir.display(),
        s.cache.hits,
        s.cache.misses,
        s.cache.corrupt,
        mib(s.cache.bytes_written),
        mib(s.cache.bytes_read)
    );
    println!(
        "results: {}",
        summary.run_dir.join("results.json").display()
    );
    runs_cmd::record(&plan, &summary, file, set);
    if let Some(fault) = &summary.report.io_fault {
        eprintln!("error: {fault}");
    }
    match summary.exit_code() {
        0 => Ok(()),
        3 => Err(Failure::Io(anyhow::anyhow!(
            "a cache or I/O fault stopped some stages"
        ))),
        code => Err(Failure::Code(code as u8)),
    }
}

/// The runs directory of `run`: `--runs DIR`, else `runs`. A system root or the home
/// directory is refused (exit 2); when the default `runs` leads outside the current
/// directory (a symbolic link), that is said once on stderr. An explicit `--runs` elsewhere
/// is taken silently: the user asked for it.
fn runs_dir(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let explicit = given.is_some();
    let runs = given.unwrap_or_else(|| PathBuf::from("runs"));
    let resolved = check_runs(&runs)?;
    if !explicit && synface_engine::run_folder::outside_cwd(&resolved) {
        eprintln!(
            "warning: the runs directory `{}` leads to `{}`, outside the current directory",
            runs.display(),
            resolved.display()
        );
    }
    Ok(runs)
}

/// Refuse a runs directory that is a system root or the home directory (exit 2).
fn check_runs(runs: &Path) -> Result<PathBuf, Failure> {
    use synface_engine::run_folder::{check_runs_dir, RunsDirError};
    check_runs_dir(runs).map_err(|e| match e {
        RunsDirError::SystemRoot { .. } => Failure::Usage(format!("error: {e}")),
        RunsDirError::Unresolvable { .. } => Failure::Io(e.into()),
    })
}

/// The pipeline name of `file` for `show`, reading at most the pipeline size limit.
fn show_pipeline_name(file: &Path) -> Result<String, Failure> {
    let src = synface_engine::pipeline::read_source(file).map_err(|e| {
        let help = e
            .help()
            .map(|h| format!("\n  = help: {h}"))
            .unwrap_or_default();
        let shown = synface_engine::diag::escape(&file.display().to_string());
        Failure::Usage(format!("error: {shown}: {e}{help}"))
    })?;
    synface_engine::run_folder::pipeline_name(&src)
        .ok_or_else(|| Failure::Usage(format!("{}: no `[pipeline] name`", file.display())))
}

/// `show`'s one-line error when `results.json` cannot be read.
fn results_failure(e: synface_engine::run_folder::LayoutError, name: &str, file: &Path) -> Failure {
    let name = synface_engine::diag::escape(name);
    match e {
        synface_engine::run_folder::LayoutError::Io { error, .. }
            if error.kind() == std::io::ErrorKind::NotFound =>
        {
            Failure::Io(anyhow::anyhow!(
                "no results for `{name}` yet: run `synface run {}` first",
                file.display()
            ))
        }
        other => Failure::Io(anyhow::anyhow!("the results of `{name}`: {other}")),
    }
}

fn cmd_show(file: &Path, format: Format, runs: &Path, run: Option<u64>) -> Result<(), Failure> {
    check_runs(runs)?;
    let name = show_pipeline_name(file)?;
    let dir = synface_engine::run_folder::run_dir(runs, &name);
    let rows = match run {
        Some(id) => runs_cmd::results_of(file, runs, id)?,
        None => synface_engine::run_folder::read_results(&dir)
            .map_err(|e| results_failure(e, &name, file))?,
    };
    let out = match format {
        Format::Table => show::table(&rows),
        Format::Csv => show::csv(&rows),
        Format::Json => serde_json::to_string_pretty(&rows).context("serialising results")? + "\n",
    };
    print!("{out}");
    Ok(())
}

/// `synface kinds [NAME] [--markdown]`; an unknown kind is a usage error (2).
fn cmd_kinds(name: Option<&str>, markdown: bool) -> Result<(), Failure> {
    let reg = registry();
    let Some(name) = name else {
        print!(
            "{}",
            if markdown {
                kinds_cmd::markdown(&reg)
            } else {
                kinds_cmd::list(&reg)
            }
        );
        return Ok(());
    };
    let Some(stage) = reg.get(name) else {
        let hint = synface_engine::diag::did_you_mean(name, reg.kinds())
            .unwrap_or_else(|| format!("kinds: {}", reg.kinds().collect::<Vec<_>>().join(", ")));
        return Err(Failure::Usage(format!(
            "error: unknown stage kind `{}`\n  = help: {hint}",
            synface_engine::diag::escape(name)
        )));
    };
    print!("{}", kinds_cmd::detail(stage.as_ref()));
    Ok(())
}

fn dispatch(cli: Cli) -> Result<(), Failure> {
    let cache = cli.cache;
    match cli.command {
        Command::Run {
            file,
            set,
            jobs,
            gpus,
            mem,
            fail_fast,
            force,
            runs,
            slurm,
        } => cmd_run(
            &file, &set, jobs, gpus, mem, fail_fast, force, runs, &slurm, &cache,
        ),
        Command::Exec { task } => slurm_cmd::cmd_exec(&task, &cache),
        Command::Plan {
            file,
            set,
            explain,
            estimate,
        } => {
            let reg = registry();
            let plan = load(&file, &set, &reg)?;
            // Read only: never waits for, nor blocks, a run holding the cache.
            let view = cache.view()?;
            print!("{}", plan_cmd::render(&plan, &view, explain)?);
            if estimate {
                print!("{}", estimate_cmd::render(&plan, &reg));
            }
            Ok(())
        }
        Command::Show {
            file,
            format,
            runs,
            run,
        } => cmd_show(&file, format, &runs, run),
        Command::Runs { file, format, runs } => runs_cmd::cmd_runs(&file, &runs, format),
        Command::Diff {
            file,
            ids,
            format,
            runs,
        } => runs_cmd::cmd_diff(&file, &runs, &ids, format),
        Command::Gc {
            dry_run,
            keep_last,
            pin,
        } => {
            let opts = GcOptions {
                dry_run,
                keep_last,
                pins: pin,
            };
            // A dry run reads the files only: it works while a run holds the cache.
            let report = if dry_run {
                cache.view()?.gc_dry_run(&opts)
            } else {
                cache.open()?.gc(&opts)
            };
            println!("{}", report.context("gc")?);
            Ok(())
        }
        Command::Cache {
            action: CacheAction::Rebuild,
        } => {
            let c = cache.open()?;
            let r = c.rebuild().context("rebuilding the cache index")?;
            println!(
                "index rebuilt: {} actions, {} runs, {} unusable manifests moved aside to {}",
                r.actions,
                r.runs,
                r.dropped,
                c.dir().join("dropped").display()
            );
            Ok(())
        }
        Command::Render(a) => faces_cmd::cmd_render(a),
        Command::Export(a) => faces_cmd::cmd_export(a, &cache),
        Command::Kinds { name, markdown } => cmd_kinds(name.as_deref(), markdown),
    }
}

fn main() -> ExitCode {
    alloc::tune_allocator();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(logging::filter(
                std::env::var("RUST_LOG").ok().as_deref(),
            ))
            .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
        Err(Failure::Io(e)) => {
            eprintln!("error: {e:#}");
            ExitCode::from(3)
        }
        Err(Failure::Code(c)) => ExitCode::from(c),
    }
}
