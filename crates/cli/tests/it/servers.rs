//! The throwaway servers of the test support (`ferry_core::testkit::server`, started by the
//! drivers' `testing` modules when `FERRY_TEST_POSTGRES_URL` / `FERRY_TEST_MYSQL_URL` are
//! unset): a test binary that used them leaves no server process and no temporary directory
//! behind, whether it ends normally, by a panic or killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a child test binary ends, in `FERRY_TEST_CHILD_END`.
const END_VAR: &str = "FERRY_TEST_CHILD_END";

/// The child of [`throwaway_servers_leave_no_orphans`]: starts both throwaway servers, makes a
/// database on each, starts a PgBouncer in front of the PostgreSQL (and forgets it, as a static
/// would be), prints their directories (`SERVER_DIR <path>`), then returns, panics or waits to
/// be killed, as `FERRY_TEST_CHILD_END` says.
#[test]
#[ignore = "run by throwaway_servers_leave_no_orphans in a child process"]
fn throwaway_servers_child() {
    let rt = crate::support::runtime();
    let postgres = ferry_driver_postgres::testing::throwaway().unwrap_or_else(|e| panic!("{e}"));
    let mariadb = ferry_driver_mysql::testing::throwaway().unwrap_or_else(|e| panic!("{e}"));
    let name = ferry_driver_postgres::testing::unique_name("orphans");
    rt.block_on(ferry_driver_postgres::testing::create_database(&name))
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(ferry_driver_mysql::testing::create_database(&name))
        .unwrap_or_else(|e| panic!("{e}"));
    // A PgBouncer in front of the PostgreSQL, not dropped: its supervisor must stop it too.
    let bouncer =
        ferry_driver_postgres::testing::PgBouncer::start(2).unwrap_or_else(|e| panic!("{e}"));
    println!("SERVER_DIR {}", postgres.dir().display());
    println!("SERVER_DIR {}", mariadb.dir().display());
    println!("SERVER_DIR {}", bouncer.dir().display());
    std::mem::forget(bouncer);
    match std::env::var(END_VAR).as_deref() {
        Ok("panic") => panic!("this test binary ends by a panic"),
        Ok("kill") => std::thread::sleep(Duration::from_secs(600)),
        _ => {}
    }
}

/// When the suite runs on throwaway servers (`FERRY_TEST_POSTGRES_URL` and `FERRY_TEST_MYSQL_URL`
/// unset, as `.ci/run` and the README's command do):
/// three test binaries start a throwaway PostgreSQL and MariaDB and a PgBouncer each; one ends
/// normally, one by a panic, one killed with `SIGKILL`. Within 30 s of each end, no process
/// runs from or in their directories (the servers, PgBouncer, their supervisors, PostgreSQL's
/// backends) and the directories are gone.
#[test]
fn throwaway_servers_leave_no_orphans() {
    // With the variables set, the suite uses existing servers, and the machine need not have
    // the packages the throwaway servers are made of (such as CI against service containers).
    let configured = [
        ferry_driver_postgres::testing::URL_VAR,
        ferry_driver_mysql::testing::URL_VAR,
    ]
    .into_iter()
    .filter(|var| std::env::var(var).is_ok_and(|url| !url.trim().is_empty()))
    .collect::<Vec<_>>();
    if !configured.is_empty() {
        eprintln!(
            "{} set: the suite uses existing servers, the throwaway ones are not tested",
            configured.join(", ")
        );
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let children: Vec<_> = ["exit", "panic", "kill"]
        .into_iter()
        .map(|end| {
            let child = Command::new(&exe)
                .args([
                    "--exact",
                    "servers::throwaway_servers_child",
                    "--ignored",
                    "--nocapture",
                ])
                .env_remove(ferry_driver_postgres::testing::URL_VAR)
                .env_remove(ferry_driver_mysql::testing::URL_VAR)
                .env(END_VAR, end)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run the test binary");
            (end, child)
        })
        .collect();
    let mut dirs: Vec<(&str, PathBuf)> = Vec::new();
    for (end, mut child) in children {
        let stdout = child.stdout.take().expect("piped stdout");
        let mut mine = Vec::new();
        // Read to the end (a child whose output is closed fails): kill the one that waits
        // for it once it has printed both directories.
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("the child's output");
            if let Some(dir) = line.strip_prefix("SERVER_DIR ") {
                mine.push(PathBuf::from(dir));
                if mine.len() == 3 && end == "kill" {
                    child.kill().expect("kill the child");
                }
            }
        }
        let output = child.wait_with_output().expect("wait for the child");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            mine.len(),
            3,
            "{end}: the child did not print its three directories:\n{stderr}"
        );
        match end {
            "exit" => assert!(output.status.success(), "{end}: {stderr}"),
            "panic" => assert_eq!(output.status.code(), Some(101), "{end}: {stderr}"),
            _ => assert_eq!(output.status.code(), None, "{end}: killed by a signal"),
        }
        dirs.extend(mine.into_iter().map(|dir| (end, dir)));
    }
    for (end, dir) in &dirs {
        assert!(dir.starts_with(std::env::temp_dir()), "{}", dir.display());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = processes_in(dir);
            if left.is_empty() && !dir.exists() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{end}: 30 s after the test binary ended, {} still exists ({} left) and these \
                 processes remain:\n{}",
                dir.display(),
                if dir.exists() {
                    "the directory is"
                } else {
                    "nothing is"
                },
                left.join("\n")
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// The processes (`pid: command line`) whose command line names `dir` or whose working
/// directory is in it.
fn processes_in(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline"))
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
            .unwrap_or_default();
        let in_dir =
            std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(dir));
        if cmdline.contains(&needle) || in_dir {
            found.push(format!("{pid}: {}", cmdline.trim()));
        }
    }
    found
}
