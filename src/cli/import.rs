//! `sqlvault import`: plaintext SQLite or SQLCipher 2/3/4 into a new sqlvault database.
//!
//! The work is [`sqlvault::import`]'s (shared with the Python package); this module reads the
//! keys, shows progress and prints the report.

use std::path::PathBuf;

use clap::Args;
use indicatif::ProgressBar;
use sqlvault::import::{Destination, Progress, SourceImage, SourceKind, Stage};
use sqlvault::sqlcipher::{SqlcipherKey, SqlcipherParams};

use super::Ui;
use super::db::{check_page_size, require_absent, require_file};
use super::error::CliError;
use super::keys::{ENV_KEY, ENV_SOURCE_KEY, KdfOpts, KeyOpts, KeySource};

/// Arguments of `sqlvault import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The database to import: plaintext SQLite, or SQLCipher 2, 3 or 4 (detected).
    pub source: PathBuf,
    /// The new sqlvault database (must not exist).
    pub db: PathBuf,
    /// File holding the SQLCipher passphrase or x'<hex>' raw key (else $SQLVAULT_SOURCE_KEY,
    /// else a prompt). Not needed for a plaintext source.
    #[arg(long, value_name = "PATH")]
    pub source_key_file: Option<PathBuf>,
    /// SQLCipher: PBKDF2 iterations, if not the version's default.
    #[arg(long, value_name = "N")]
    pub kdf_iter: Option<u32>,
    /// SQLCipher: the source's page size (others are still tried after it).
    #[arg(long, value_name = "BYTES")]
    pub page_size: Option<u32>,
    /// SQLCipher: only try this major version's defaults (2, 3 or 4).
    #[arg(long, value_name = "VERSION")]
    pub legacy: Option<u8>,
    #[command(flatten)]
    pub key: KeyOpts,
    #[command(flatten)]
    pub kdf: KdfOpts,
    /// Page size of the new database.
    #[arg(long, default_value_t = 4096, value_name = "BYTES")]
    pub target_page_size: u32,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

/// Runs `sqlvault import`.
pub fn run(args: ImportArgs, ui: Ui) -> Result<(), CliError> {
    require_file(&args.source)?;
    require_absent(&args.db)?;
    check_page_size(args.target_page_size)?;
    let params = args.kdf.params()?;
    let mut bars = Bars { ui, current: None };
    let image = match SourceKind::detect(&args.source)? {
        SourceKind::Sqlvault => {
            return Err(CliError::Failed(format!(
                "{} is already a sqlvault database (use `sqlvault rekey` to change its key)",
                args.source.display()
            )));
        }
        SourceKind::PlaintextSqlite => SourceImage::plaintext(&args.source)?,
        _ => sqlcipher_image(&args, ui, &mut bars)?,
    };
    let kind = image.description().to_owned();
    ui.say(format_args!("source: {kind}"));

    let key = KeySource {
        file: args.key.key_file.as_deref(),
        env: ENV_KEY,
        prompt: "key for the new database",
        confirm: true,
    }
    .sqlvault_key()?;
    let dest = Destination {
        path: &args.db,
        key: &key,
        argon2: params,
        limits: args.key.limits(),
        page_size: args.target_page_size,
    };
    let report = image.write_to(&dest, &mut |p| bars.show(p))?;
    bars.finish();

    let rows: i64 = report.tables.iter().map(|(_, n)| n).sum();
    if args.json {
        let tables: serde_json::Map<String, serde_json::Value> = report
            .tables
            .iter()
            .map(|(t, n)| (t.clone(), (*n).into()))
            .collect();
        let v = serde_json::json!({
            "source": kind,
            "tables": tables,
            "other_objects": report.other_objects,
            "user_version": report.user_version,
            "application_id": report.application_id,
        });
        println!("{v}");
    }
    ui.say(format_args!(
        "imported {} tables ({rows} rows, row counts verified) and {} indexes/views/triggers into {}",
        report.tables.len(),
        report.other_objects,
        args.db.display()
    ));
    Ok(())
}

/// One progress bar per stage of the import.
struct Bars {
    ui: Ui,
    current: Option<(Stage, ProgressBar)>,
}

impl Bars {
    fn show(&mut self, p: Progress<'_>) {
        if self.current.as_ref().is_none_or(|(stage, _)| *stage != p.stage) {
            self.finish();
            let label = match p.stage {
                Stage::Decrypt => "decrypt",
                _ => "copy",
            };
            self.current = Some((p.stage, self.ui.progress(label, p.total)));
        }
        if let Some((_, bar)) = &self.current {
            bar.set_length(p.total);
            bar.set_position(p.done);
            if let Some(item) = p.item {
                bar.set_message(item.to_owned());
            }
        }
    }

    fn finish(&mut self) {
        if let Some((_, bar)) = self.current.take() {
            bar.finish_and_clear();
        }
    }
}

fn sqlcipher_image(args: &ImportArgs, ui: Ui, bars: &mut Bars) -> Result<SourceImage, CliError> {
    let text = KeySource {
        file: args.source_key_file.as_deref(),
        env: ENV_SOURCE_KEY,
        prompt: "SQLCipher key of the source",
        confirm: false,
    }
    .read()?;
    let key = SqlcipherKey::parse(&text);
    let bases = match args.legacy {
        Some(v) => vec![SqlcipherParams::legacy(v)?],
        None => SqlcipherParams::all_versions(),
    };
    let candidates: Vec<SqlcipherParams> = bases
        .into_iter()
        .map(|p| {
            let p = match args.kdf_iter {
                Some(n) => p.with_kdf_iter(n),
                None => p,
            };
            match args.page_size {
                Some(s) => p.with_page_size(s),
                None => p,
            }
        })
        .collect();
    ui.say("deriving the SQLCipher key (PBKDF2, trying each version's settings)…");
    let image = SourceImage::sqlcipher(&args.source, &key, &candidates, &mut |p| bars.show(p))
        .map_err(|e| CliError::from(e).context(&args.source.display().to_string()))?;
    bars.finish();
    Ok(image)
}
