//! Exit codes (SPEC §5.7), decided here and nowhere else: [`exit_code`] maps how a command
//! ended (an [`Ending`] or a [`Failure`]) to its code.
//!
//! 0 success or nothing to do · 1 failed, refused, declined, or the database failed ·
//! 2 usage, configuration or migration-file error · 3 `check --strict` found work ·
//! 130 interrupted by Ctrl-C (`verify`, after dropping its scratch database).

use ferry_core::{Error, ErrorClass, Outcome};

/// Exit code: success or nothing to do.
pub const EXIT_OK: i32 = 0;
/// Exit code: the operation failed, was refused or declined, or the database failed.
pub const EXIT_FAILED: i32 = 1;
/// Exit code: usage, configuration or migration-file error.
pub const EXIT_USAGE: i32 = 2;
/// Exit code: `check --strict` found migrations that are not applied.
pub const EXIT_STRICT: i32 = 3;
/// Exit code: interrupted by Ctrl-C (128 + SIGINT), after cleaning up (`verify`).
pub const EXIT_INTERRUPTED: i32 = 130;

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A manager's outcome.
    Outcome(Outcome),
    /// `check`: whether `--strict` was given and found a migration that is not applied.
    Check {
        /// `--strict` found work.
        strict_found_work: bool,
    },
    /// The command printed what was asked (help, version, completions, `new`, `init`).
    Printed,
    /// A fleet run of forwards or backwards (SPEC §11).
    Fleet {
        /// Every selected target succeeded (`ok` or `nothing to do`).
        all_succeeded: bool,
    },
    /// `check --fleet`.
    FleetCheck {
        /// A target could not be read.
        unreadable: bool,
        /// `--strict` found work on a target.
        strict_found_work: bool,
    },
}

/// What went wrong.
#[derive(Debug)]
pub enum Failure {
    /// The command line was rejected by the parser (clap has printed why).
    CommandLine,
    /// A usage or configuration problem found by the CLI itself (its message).
    Usage(String),
    /// An operation of the CLI itself failed (its message).
    Failed(String),
    /// An error from core.
    Core(Box<Error>),
    /// Ctrl-C ended the command after it cleaned up (its message).
    Interrupted(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Core(Box::new(e))
    }
}

/// The exit code of how a command ended: the one place SPEC §5.7 is decided.
pub fn exit_code(ended: &Result<Ending, Failure>) -> i32 {
    match ended {
        Ok(Ending::Outcome(outcome)) if outcome.is_success() => EXIT_OK,
        Ok(Ending::Outcome(_)) => EXIT_FAILED,
        Ok(Ending::Check {
            strict_found_work: true,
        }) => EXIT_STRICT,
        Ok(Ending::Check { .. } | Ending::Printed) => EXIT_OK,
        Ok(Ending::Fleet { all_succeeded }) => {
            if *all_succeeded {
                EXIT_OK
            } else {
                EXIT_FAILED
            }
        }
        Ok(Ending::FleetCheck {
            unreadable: true, ..
        }) => EXIT_FAILED,
        Ok(Ending::FleetCheck {
            strict_found_work, ..
        }) => {
            if *strict_found_work {
                EXIT_STRICT
            } else {
                EXIT_OK
            }
        }
        Err(Failure::CommandLine | Failure::Usage(_)) => EXIT_USAGE,
        Err(Failure::Failed(_)) => EXIT_FAILED,
        Err(Failure::Interrupted(_)) => EXIT_INTERRUPTED,
        Err(Failure::Core(e)) => match e.class() {
            ErrorClass::Input => EXIT_USAGE,
            ErrorClass::Failed => EXIT_FAILED,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ending_has_its_spec_code() {
        let cases: Vec<(Result<Ending, Failure>, i32)> = vec![
            (Ok(Ending::Outcome(Outcome::Done)), 0),
            (Ok(Ending::Outcome(Outcome::NothingToDo)), 0),
            (Ok(Ending::Outcome(Outcome::AlreadyApplied)), 0),
            (Ok(Ending::Outcome(Outcome::Preview)), 0),
            (Ok(Ending::Outcome(Outcome::Declined)), 1),
            (Ok(Ending::Outcome(Outcome::NotFound)), 1),
            (
                Ok(Ending::Check {
                    strict_found_work: false,
                }),
                0,
            ),
            (
                Ok(Ending::Check {
                    strict_found_work: true,
                }),
                3,
            ),
            (Ok(Ending::Printed), 0),
            (
                Ok(Ending::Fleet {
                    all_succeeded: true,
                }),
                0,
            ),
            (
                Ok(Ending::Fleet {
                    all_succeeded: false,
                }),
                1,
            ),
            (
                Ok(Ending::FleetCheck {
                    unreadable: true,
                    strict_found_work: true,
                }),
                1,
            ),
            (
                Ok(Ending::FleetCheck {
                    unreadable: false,
                    strict_found_work: true,
                }),
                3,
            ),
            (
                Ok(Ending::FleetCheck {
                    unreadable: false,
                    strict_found_work: false,
                }),
                0,
            ),
            (Err(Failure::CommandLine), 2),
            (Err(Failure::Usage("x".into())), 2),
            (Err(Failure::Failed("x".into())), 1),
            (Err(Failure::Interrupted("x".into())), 130),
            (Err(Error::Usage("x".into()).into()), 2),
            (Err(Error::Unsuccessful("x".into()).into()), 1),
        ];
        for (ended, code) in cases {
            assert_eq!(exit_code(&ended), code, "{ended:?}");
        }
    }
}
