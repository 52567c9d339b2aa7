//! Running the `ferry` binary as separate processes: started, waited for with a deadline (a
//! hang is a finding, never a stuck harness), or killed with SIGKILL.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// The binary under test.
#[derive(Debug, Clone)]
pub struct Ferry {
    binary: PathBuf,
}

/// A finished (or killed) run.
#[derive(Debug, Clone)]
pub struct Run {
    /// What was run, for messages (`ferry forwards all`).
    pub shown: String,
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The harness killed it at a deadline: it hung.
    pub hung: bool,
    /// The harness killed it on purpose and it was still running then.
    pub killed: bool,
}

impl Run {
    /// `exit 0`, `exit 1`, `killed`, `no exit within 16 s (killed)`.
    pub fn status(&self) -> String {
        if self.hung {
            format!(
                "no exit within {:.0} s (killed)",
                self.elapsed.as_secs_f64()
            )
        } else if self.killed {
            "killed".to_owned()
        } else {
            match self.code {
                Some(code) => format!("exit {code}"),
                None => "ended by a signal".to_owned(),
            }
        }
    }

    /// stdout and stderr together.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Its stderr, shortened to a few lines, for a problem report.
    pub fn stderr_tail(&self) -> String {
        tail(&self.stderr, 6)
    }

    /// Whether it exited with `code`.
    pub fn exited(&self, code: i32) -> bool {
        !self.hung && !self.killed && self.code == Some(code)
    }

    /// "`ferry ...` exit 1 after 0.3 s: `<stderr tail>`", for problems.
    pub fn describe(&self) -> String {
        format!(
            "`{}` {} after {:.1} s: {}",
            self.shown,
            self.status(),
            self.elapsed.as_secs_f64(),
            self.stderr_tail()
        )
    }
}

/// The last `n` non-empty lines of `text`, joined with ` | `.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let text = lines[lines.len().saturating_sub(n)..].join(" | ");
    if text.is_empty() {
        "(no output)".to_owned()
    } else {
        text
    }
}

/// A running ferry.
pub struct Running {
    shown: String,
    child: Child,
    started: Instant,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
}

impl Ferry {
    pub fn new(binary: PathBuf) -> Ferry {
        Ferry { binary }
    }

    /// `ferry --no-dotenv --color never [-d URL] ARGS` in `dir`, with no database URL in
    /// the environment and stdin empty (not a terminal).
    pub fn command(&self, dir: &Path, url: Option<&str>, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.binary);
        cmd.current_dir(dir)
            .env_remove("FERRY_DATABASE_URL")
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .args(["--no-dotenv", "--color", "never"]);
        if let Some(url) = url {
            cmd.args(["-d", url]);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Start `cmd` (from [`Ferry::command`]); `shown` names it in messages.
    pub fn start(&self, mut cmd: Command, shown: &str) -> Result<Running> {
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot run {}", self.binary.display()))?;
        let stdout = reader(child.stdout.take());
        let stderr = reader(child.stderr.take());
        Ok(Running {
            shown: format!("ferry {shown}"),
            child,
            started,
            stdout,
            stderr,
        })
    }

    /// Run `args` against `url` in `dir` and wait for it (at most `limit`).
    pub fn run(&self, dir: &Path, url: &str, args: &[&str], limit: Duration) -> Result<Run> {
        let running = self.start(self.command(dir, Some(url), args), &args.join(" "))?;
        running.wait(limit)
    }
}

fn reader(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut buf);
        }
        buf
    })
}

impl Running {
    /// Wait until it exits; past `limit` (from its start), kill it and report it as hung.
    pub fn wait(mut self, limit: Duration) -> Result<Run> {
        let deadline = self.started + limit;
        loop {
            if self.child.try_wait()?.is_some() {
                return self.finish(false, false);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return self.finish(true, false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kill it (SIGKILL) `delay` after its start; `killed` in the result says whether it was
    /// still running then.
    pub fn kill_after(mut self, delay: Duration) -> Result<Run> {
        let at = self.started + delay;
        loop {
            if self.child.try_wait()?.is_some() {
                return self.finish(false, false);
            }
            if Instant::now() >= at {
                self.child.kill().context("cannot kill ferry")?;
                return self.finish(false, true);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Whether it has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn finish(mut self, hung: bool, killed: bool) -> Result<Run> {
        let status = self.child.wait().context("cannot wait for ferry")?;
        let elapsed = self.started.elapsed();
        let stdout = self.stdout.join().unwrap_or_default();
        let stderr = self.stderr.join().unwrap_or_default();
        Ok(Run {
            shown: self.shown,
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout).into_owned(),
            stderr: String::from_utf8_lossy(&stderr).into_owned(),
            elapsed,
            hung,
            // It may have exited on its own just before the signal.
            killed: killed && status.code().is_none(),
        })
    }
}
