//! The supervisor every throwaway server (and helper such as a PgBouncer) runs under: it
//! stops the process and removes its directory when the test process ends (see the
//! [parent module](super)).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A process under a supervisor (see the [module documentation](super)): `init`, then the
/// process itself, with their output in `init.log` and `server.log` of a directory that the
/// supervisor removes once it has stopped the process: when this is dropped, or when the test
/// process ends, however it ends. For the throwaway servers, and for other helpers that must
/// not outlive the test process (such as a PgBouncer).
#[derive(Debug)]
pub struct Supervised {
    dir: PathBuf,
    /// The supervisor; its standard input is the pipe whose end stops the process.
    supervisor: Child,
}

impl Supervised {
    /// Run `init` (nothing when empty), then, when it succeeds, `process` under a supervisor
    /// in `dir` (which must exist; the supervisor removes it at the end). When the test process
    /// ends or this is dropped, the process gets `signal` (such as `TERM`), then `KILL` after
    /// 10 s. Errors when `sh` cannot run.
    pub fn spawn(
        dir: &Path,
        init: &[String],
        process: &[String],
        signal: &str,
    ) -> Result<Supervised, String> {
        let script = supervisor_script(dir, init, process, signal);
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match group_of_its_own(&mut command).spawn() {
            Ok(supervisor) => Ok(Supervised {
                dir: dir.to_owned(),
                supervisor,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(dir);
                Err(format!("cannot run sh: {e}"))
            }
        }
    }

    /// The exit status of `init` when it failed, or of the process when it ended (or
    /// `signal N`); `None` while it runs.
    pub fn exited(&self) -> Option<String> {
        fs::read_to_string(self.dir.join("exited"))
            .ok()
            .map(|status| match status.trim().parse::<u32>() {
                Ok(code) if code > 128 => format!("signal {}", code - 128),
                _ => status.trim().to_owned(),
            })
    }

    /// The error lines and the last lines of `init.log` and `server.log`, for error messages.
    pub fn log_tail(&self) -> String {
        const LINES: usize = 10;
        let mut out = Vec::new();
        for name in ["init.log", "server.log"] {
            let text = fs::read_to_string(self.dir.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = lines.len().saturating_sub(LINES);
            let errors = lines[..tail]
                .iter()
                .filter(|l| ["ERROR", "FATAL", "error"].iter().any(|e| l.contains(e)))
                .take(5);
            out.extend(
                errors
                    .chain(&lines[tail..])
                    .map(|l| format!("  {name}: {l}")),
            );
        }
        if out.is_empty() {
            "(empty)".to_owned()
        } else {
            out.join("\n")
        }
    }

    /// The directory (removed when the process has stopped).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Supervised {
    /// Close the supervisor's standard input and wait until it has stopped the process and
    /// removed the directory.
    fn drop(&mut self) {
        drop(self.supervisor.stdin.take());
        let _ = self.supervisor.wait();
    }
}

/// Put `command` in a process group of its own (a Ctrl-C on the terminal then reaches the test
/// process only).
#[cfg(unix)]
pub(super) fn group_of_its_own(command: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    command.process_group(0)
}

/// Nothing to do off unix.
#[cfg(not(unix))]
pub(super) fn group_of_its_own(command: &mut Command) -> &mut Command {
    command
}

/// The supervisor's script: runs `init`, then `server` in the background; when its standard input ends
/// (the test process closed it or is gone), stops the server with `signal` (then `KILL` after
/// 10 s) and removes `dir`. Writes `dir/exited` (the status) when the initialisation or the
/// server ends, so that the test process sees a failed start at once.
pub(super) fn supervisor_script(
    dir: &Path,
    init: &[String],
    server: &[String],
    signal: &str,
) -> String {
    let quote = |text: &str| format!("'{}'", text.replace('\'', r"'\''"));
    let line = |argv: &[String]| argv.iter().map(|a| quote(a)).collect::<Vec<_>>().join(" ");
    let init = if init.is_empty() {
        "true".to_owned()
    } else {
        line(init)
    };
    format!(
        r#"trap '' INT HUP QUIT TERM
dir={dir}
exec 3<&0 </dev/null
{{
  while read -r _ <&3; do :; done
  : > "$dir/closed"
  while [ ! -e "$dir/exited" ]; do
    if [ -s "$dir/server.pid" ]; then
      pid=$(cat "$dir/server.pid")
      kill -{signal} "$pid" 2>/dev/null
      i=0
      while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
      kill -KILL "$pid" 2>/dev/null
      break
    fi
    sleep 0.1
  done
}} &
watcher=$!
exec 3<&-
status=0
if {init} >"$dir/init.log" 2>&1; then
  if [ ! -e "$dir/closed" ]; then
    {server} >"$dir/server.log" 2>&1 &
    echo $! > "$dir/server.pid.new" && mv "$dir/server.pid.new" "$dir/server.pid"
    wait $!
    status=$?
  fi
else
  status=$?
fi
echo "$status" > "$dir/exited"
wait "$watcher"
rm -rf "$dir"
"#,
        dir = quote(&dir.display().to_string()),
        init = init,
        server = line(server),
    )
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// The command line of process `pid`, if it runs.
    fn command_line(pid: &str) -> Option<String> {
        fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
    }

    /// Dropping a [`Supervised`] stops its process (one that ignores `TERM` gets `KILL`) and
    /// removes its directory; a failing init is reported and starts nothing.
    #[test]
    fn supervised_process_stops_and_its_directory_goes() {
        let dir = std::env::temp_dir().join(crate::scratch::unique_name("supervised"));
        fs::create_dir(&dir).unwrap();
        // A process that ignores TERM.
        let argv = ["sh", "-c", "trap '' TERM; exec sleep 600"].map(str::to_owned);
        let process = Supervised::spawn(&dir, &[], &argv, "TERM").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dir.join("server.pid").exists() {
            assert!(Instant::now() < deadline, "the process did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(process.exited(), None);
        let pid = fs::read_to_string(dir.join("server.pid")).unwrap();
        let pid = pid.trim().to_owned();
        assert!(command_line(&pid).is_some_and(|c| c.contains("sleep 600")));
        let started = Instant::now();
        drop(process);
        assert!(!dir.exists(), "{} is left", dir.display());
        assert!(
            started.elapsed() >= Duration::from_secs(9),
            "KILL came before 10 s"
        );
        assert!(
            !command_line(&pid).is_some_and(|c| c.contains("sleep 600")),
            "the process is left"
        );

        let dir = std::env::temp_dir().join(crate::scratch::unique_name("supervised"));
        fs::create_dir(&dir).unwrap();
        let failing = ["sh", "-c", "echo no such thing; exit 3"].map(str::to_owned);
        let process = Supervised::spawn(&dir, &failing, &argv, "TERM").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while process.exited().is_none() {
            assert!(
                Instant::now() < deadline,
                "the failed init was not reported"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(process.exited().as_deref(), Some("3"));
        assert!(
            process.log_tail().contains("init.log: no such thing"),
            "{}",
            process.log_tail()
        );
        assert!(!dir.join("server.pid").exists());
        drop(process);
        assert!(!dir.exists());
    }

    /// Arguments reach the process as they are, quotes and spaces included.
    #[test]
    fn supervisor_script_quotes_arguments() {
        let script = supervisor_script(
            Path::new("/tmp/a b"),
            &[],
            &["echo".to_owned(), "it's $HOME".to_owned()],
            "TERM",
        );
        assert!(script.contains(r#"dir='/tmp/a b'"#), "{script}");
        assert!(script.contains(r#"'echo' 'it'\''s $HOME'"#), "{script}");
    }
}
