//! `cargo xtask dist`: release archives.
//!
//! Each archive `target/dist/ferry-<version>-<target>[-<backend>].tar.gz` holds one folder of
//! the same name with the binary, README.md, the licences, CHANGELOG.md, `completions/` (bash,
//! zsh, fish, PowerShell, elvish) and `man/` (`ferry.1` and one page per subcommand). The
//! completions and man pages come from `ferry_cli::command()`, the definition the binary uses.
//! Next to each archive goes `<archive>.sha256`; `SHA256SUMS` lists every archive of this version.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context, Result};
use clap::Args;
use clap_complete::{Generator, Shell};
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use crate::{build_ferry, ferry_version, host_triple, parse_features, target_dir, workspace_root};

/// Options of `cargo xtask dist`.
#[derive(Debug, Args)]
pub struct DistArgs {
    /// Target triple to build for [default: the host's, from `rustc -vV`]
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,
    /// ferry-cli features to build with instead of the defaults, e.g. `sqlite` or `postgres,mysql`
    #[arg(long, value_name = "LIST", conflicts_with = "all_variants")]
    features: Option<String>,
    /// Build the full binary and one binary per backend (sqlite, postgres, mysql)
    #[arg(long)]
    all_variants: bool,
}

/// One file in an archive.
struct Entry {
    path: String,
    data: Vec<u8>,
    mode: u32,
}

/// Run `cargo xtask dist`.
pub fn run(args: &DistArgs) -> Result<()> {
    let version = ferry_version();
    let triple = match &args.target {
        Some(t) => t.clone(),
        None => host_triple()?,
    };
    // `None` is the full (default-features) build.
    let variants: Vec<Option<Vec<String>>> = if args.all_variants {
        let mut v = vec![None];
        v.extend(["sqlite", "postgres", "mysql"].map(|b| Some(vec![b.to_owned()])));
        v
    } else {
        vec![args.features.as_deref().map(parse_features).transpose()?]
    };
    let dist = target_dir().join("dist");
    std::fs::create_dir_all(&dist).with_context(|| format!("cannot create {}", dist.display()))?;
    let docs = doc_files()?;

    let mut made = Vec::new();
    for features in &variants {
        let binary = build_ferry(features.as_deref(), args.target.as_deref())?;
        let backends: Vec<String> = features
            .clone()
            .unwrap_or_else(|| crate::BACKENDS.map(str::to_owned).to_vec());
        let stem = match features.as_deref() {
            Some([one]) => format!("ferry-{version}-{triple}-{one}"),
            _ => format!("ferry-{version}-{triple}"),
        };
        let bin_data =
            std::fs::read(&binary).with_context(|| format!("cannot read {}", binary.display()))?;
        let bin_name = binary
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("ferry")
            .to_owned();
        let bin_size = bin_data.len();

        let mut entries = vec![Entry {
            path: format!("{stem}/{bin_name}"),
            data: bin_data,
            mode: 0o755,
        }];
        for (name, data) in &docs {
            entries.push(Entry {
                path: format!("{stem}/{name}"),
                data: data.clone(),
                mode: 0o644,
            });
        }
        let version_line = format!("{version} (backends: {})", backends.join(", "));
        for (name, data) in completions()? {
            entries.push(Entry {
                path: format!("{stem}/completions/{name}"),
                data,
                mode: 0o644,
            });
        }
        for (name, data) in man_pages(&version_line)? {
            entries.push(Entry {
                path: format!("{stem}/man/{name}"),
                data,
                mode: 0o644,
            });
        }

        let archive_name = format!("{stem}.tar.gz");
        let archive = dist.join(&archive_name);
        let bytes = tar_gz(&entries)?;
        std::fs::write(&archive, &bytes)
            .with_context(|| format!("cannot write {}", archive.display()))?;
        let line = format!("{}  {archive_name}\n", hex_sha256(&bytes));
        let sum_file = dist.join(format!("{archive_name}.sha256"));
        std::fs::write(&sum_file, &line)
            .with_context(|| format!("cannot write {}", sum_file.display()))?;
        made.push((archive, bin_size, bytes.len()));
    }

    let sums = write_sha256sums(&dist, &version)?;
    println!();
    for (archive, bin_size, archive_size) in &made {
        println!(
            "{}  (binary {}, archive {})",
            archive.display(),
            human_size(*bin_size),
            human_size(*archive_size)
        );
    }
    println!("{}", sums.display());
    Ok(())
}

/// README.md, the licence files and CHANGELOG.md from the workspace root.
fn doc_files() -> Result<Vec<(String, Vec<u8>)>> {
    let root = workspace_root();
    let read = |name: &str| -> Result<Option<(String, Vec<u8>)>> {
        let path = root.join(name);
        if !path.is_file() {
            return Ok(None);
        }
        let data =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Ok(Some((name.to_owned(), data)))
    };
    let mut files = Vec::new();
    for name in ["README.md", "CHANGELOG.md"] {
        match read(name)? {
            Some(f) => files.push(f),
            None => bail!("{name} is missing from {}", root.display()),
        }
    }
    let split: Vec<_> = ["LICENSE-MIT", "LICENSE-APACHE"]
        .into_iter()
        .map(read)
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    if split.is_empty() {
        match read("LICENSE")? {
            Some(f) => files.push(f),
            None => bail!(
                "no licence file in {}: expected LICENSE-MIT and LICENSE-APACHE, or LICENSE",
                root.display()
            ),
        }
    } else {
        files.extend(split);
    }
    Ok(files)
}

/// Completion scripts for every shell clap_complete knows that ferry ships.
fn completions() -> Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for shell in [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ] {
        let mut cmd = ferry_cli::command();
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut cmd, "ferry", &mut buf);
        if buf.is_empty() {
            bail!("clap_complete generated nothing for {shell}");
        }
        out.push((shell.file_name("ferry"), buf));
    }
    Ok(out)
}

/// `ferry.1` and one page per (visible) subcommand, `ferry-forwards.1` and so on.
fn man_pages(version_line: &str) -> Result<Vec<(String, Vec<u8>)>> {
    // clap wants a `'static` version string; xtask is short-lived, so leaking it is fine.
    let version: &'static str = Box::leak(version_line.to_owned().into_boxed_str());
    let mut cmd = ferry_cli::command()
        .version(version)
        .disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect_man(&cmd, &mut out)?;
    Ok(out)
}

fn collect_man(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render(&mut buf).context("cannot render a man page")?;
    out.push((man.get_filename(), buf));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_man(sub, out)?;
    }
    Ok(())
}

/// A gzipped tar of `entries`, with fixed owners and a fixed time (`SOURCE_DATE_EPOCH` when
/// set), so that the same inputs give the same archive.
fn tar_gz(entries: &[Entry]) -> Result<Vec<u8>> {
    let mtime = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        });
    let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), Compression::best()));
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(entry.data.len() as u64);
        header.set_mode(entry.mode);
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_cksum();
        builder
            .append_data(&mut header, &entry.path, entry.data.as_slice())
            .with_context(|| format!("cannot add {} to the archive", entry.path))?;
    }
    let encoder = builder
        .into_inner()
        .context("cannot finish the tar stream")?;
    encoder.finish().context("cannot finish the gzip stream")
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Write `SHA256SUMS` from the `.sha256` files of every archive of `version` in `dist`.
fn write_sha256sums(dist: &Path, version: &str) -> Result<std::path::PathBuf> {
    let prefix = format!("ferry-{version}-");
    let mut names: Vec<String> = std::fs::read_dir(dist)
        .with_context(|| format!("cannot read {}", dist.display()))?
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix) && n.ends_with(".tar.gz.sha256"))
        .collect();
    names.sort();
    let mut text = String::new();
    for name in names {
        let path = dist.join(&name);
        let line = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let path = dist.join("SHA256SUMS");
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

fn human_size(bytes: usize) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib >= 1.0 {
        format!("{mib:.2} MiB")
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
