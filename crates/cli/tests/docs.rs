//! The user guide in `docs/src` covers the command line: every subcommand (as `ferry <name>`)
//! and every long option (as `--name`) of `ferry_cli::command()` appears in its text.

use std::path::Path;

/// The text of every `docs/src/*.md`, concatenated.
fn docs_text() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/src");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no .md files in {}", dir.display());
    paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `needle` occurs in `text` not followed by a character that would make it a longer
/// word (so `--table` is not satisfied by `--tables`).
fn mentions(text: &str, needle: &str) -> bool {
    text.match_indices(needle).any(|(i, _)| {
        !text[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn walk(cmd: &clap::Command, path: &str, text: &str, missing: &mut Vec<String>) {
    let top = path == "ferry";
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        // clap's own flags; global options are checked once, on the top-level command.
        if long == "help" || long == "version" || (arg.is_global_set() && !top) {
            continue;
        }
        let needle = format!("--{long}");
        if !mentions(text, &needle) {
            missing.push(format!("option {needle} of `{path}`"));
        }
    }
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let sub_path = format!("{path} {}", sub.get_name());
        if !mentions(text, &sub_path) {
            missing.push(format!("subcommand `{sub_path}`"));
        }
        walk(sub, &sub_path, text, missing);
    }
}

#[test]
fn docs_mention_every_subcommand_and_long_option() {
    let text = docs_text();
    let mut cmd = ferry_cli::command();
    cmd.build();
    let mut missing = Vec::new();
    walk(&cmd, "ferry", &text, &mut missing);
    assert!(
        missing.is_empty(),
        "docs/src/*.md do not mention:\n  {}",
        missing.join("\n  ")
    );
}

/// The README's quick-start command runs as written (with `cargo run -p ferry-cli --` standing
/// for the binary this test was built with), on a copy of `examples/blog`, and leaves every
/// migration applied.
#[test]
fn readme_quick_start_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme
        .split("## Quick start")
        .nth(1)
        .expect("README has a Quick start section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the quick start has a sh code block");
    let command = block.trim();
    assert!(
        command.contains("forwards all") && command.contains("check"),
        "{command}"
    );

    let dir = tempfile::tempdir().unwrap();
    let example = dir.path().join("examples/blog");
    std::fs::create_dir_all(example.join("migrations")).unwrap();
    std::fs::copy(
        root.join("examples/blog/ferry.toml"),
        example.join("ferry.toml"),
    )
    .unwrap();
    for app in ["users", "blog"] {
        let from = root.join("examples/blog/migrations").join(app);
        let to = example.join("migrations").join(app);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
    let bin = env!("CARGO_BIN_EXE_ferry");
    let script = command.replace("cargo run -p ferry-cli --", &format!("'{bin}'"));
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("FERRY_DATABASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.matches("applied").count(),
        5,
        "every example migration is applied:\n{stdout}"
    );
    assert!(
        example.join("blog.db").exists(),
        "the database lives beside ferry.toml"
    );
}
