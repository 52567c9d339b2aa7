//! The measuring helper process (`wait4`, peak RSS reset before exec).

use super::*;

/// The first argument that makes xtask the measuring helper instead of a task.
pub const HELPER: &str = "__bench-measure";

/// The measuring helper: `xtask __bench-measure REPORT PROGRAM ARGS...` runs PROGRAM with
/// our stdin, stdout and stderr, waits for it with `wait4`, and writes to REPORT its exit
/// code (non-zero for a signal), wall time and CPU time (user + system) in µs and its peak
/// RSS in bytes. Called first thing in `main`, before anything grows our memory: PROGRAM's
/// peak RSS cannot be below ours (see [`Bench::measure`]), so ours must stay small.
pub fn measure_helper(args: &[std::ffi::OsString]) -> Result<()> {
    let [report, program, rest @ ..] = args else {
        bail!("usage: xtask {HELPER} REPORT PROGRAM [ARGS...]");
    };
    let mut cmd = Command::new(program);
    cmd.args(rest);
    rusage::reset_peak_on_exec(&mut cmd);
    let started = Instant::now();
    let child = cmd
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let (code, cpu, rss) = rusage::wait(child)?;
    let wall = started.elapsed();
    std::fs::write(
        report,
        // A signal is reported as exit code 999.
        format!(
            "{} {} {} {rss}\n",
            u32::try_from(code).unwrap_or(999),
            wall.as_micros(),
            cpu.as_micros()
        ),
    )?;
    Ok(())
}

/// Waiting for a child with its resource usage (`wait4`).
mod rusage {
    use std::process::Child;
    use std::time::Duration;

    use anyhow::Result;

    /// Wait for `child`; its exit code (-1 for a signal), CPU time (user + system) and peak
    /// RSS in bytes.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn wait(child: Child) -> Result<(i32, Duration, u64)> {
        let pid = libc::pid_t::try_from(child.id())?;
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero `rusage` is valid (plain integers), and both pointers are to
        // live locals for the length of the call.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let got = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if got != pid {
            anyhow::bail!("wait4: {}", std::io::Error::last_os_error());
        }
        // The child is reaped; `Child` does not wait on drop.
        drop(child);
        let tv = |t: libc::timeval| {
            Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
                + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
        };
        let code = if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        };
        // Linux reports ru_maxrss in KiB.
        let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
        Ok((code, tv(usage.ru_utime) + tv(usage.ru_stime), rss))
    }

    /// Have `cmd`'s process start with its peak RSS reset to what it holds (Linux's
    /// `/proc/self/clear_refs` "5"), just before it execs the program: forked from us, it
    /// would otherwise begin with our high-water mark, which the program inherits.
    #[cfg(unix)]
    #[allow(unsafe_code)]
    pub fn reset_peak_on_exec(cmd: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        // SAFETY: between fork and exec only async-signal-safe calls (open, write, close) on
        // a static path and buffer; a failure (not Linux, no /proc) is ignored.
        unsafe {
            cmd.pre_exec(|| {
                let fd = libc::open(c"/proc/self/clear_refs".as_ptr(), libc::O_WRONLY);
                if fd >= 0 {
                    libc::write(fd, b"5".as_ptr().cast(), 1);
                    libc::close(fd);
                }
                Ok(())
            });
        }
    }

    /// Elsewhere: nothing to do.
    #[cfg(not(unix))]
    pub fn reset_peak_on_exec(_cmd: &mut std::process::Command) {}

    /// Elsewhere: wall time only.
    #[cfg(not(unix))]
    pub fn wait(mut child: Child) -> Result<(i32, Duration, u64)> {
        let status = child.wait()?;
        Ok((status.code().unwrap_or(-1), Duration::ZERO, 0))
    }
}
