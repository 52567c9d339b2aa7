//! The command line before clap sees it. Fleet options belong to `forwards`, `backwards`,
//! `check` and `drift` (so that only their `--help` lists them), yet SPEC §11 accepts them before the
//! subcommand too: [`hoist_fleet_options`] moves them after it. A fleet option left where
//! clap does not take it is reported by [`fleet_option_misplaced`].

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args as _, CommandFactory as _};

use crate::args::{Cli, FleetOpts};

/// Move the fleet options given before the subcommand (with their values) to just after the
/// subcommand's name: `ferry --fleet --parallel 2 forwards all` is parsed as
/// `ferry forwards --fleet --parallel 2 all`. Global options before the subcommand keep their
/// values (`-c PATH`, `--table=NAME`, `-vc PATH`); a command line without a subcommand, or
/// with `--` before it, is returned unchanged.
pub fn hoist_fleet_options(args: Vec<OsString>) -> Vec<OsString> {
    let top = Cli::command();
    let fleet = FleetOpts::augment_args(clap::Command::new("fleet"));
    let long_takes_value = |cmd: &clap::Command, name: &str| {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(name))
            .map(|a| a.get_action().takes_values())
    };
    let short_takes_value = |c: char| {
        top.get_arguments()
            .find(|a| a.get_short() == Some(c))
            .is_some_and(|a| a.get_action().takes_values())
    };

    let mut before = Vec::new();
    let mut hoisted = Vec::new();
    let mut rest = args.into_iter();
    let Some(bin) = rest.next() else {
        return Vec::new();
    };
    let original_rest: Vec<OsString> = rest.collect();
    let mut tokens = original_rest.iter();
    let subcommand = loop {
        let Some(token) = tokens.next() else {
            break None;
        };
        let Some(text) = token.to_str() else {
            break Some(token);
        };
        if text == "--" {
            break None;
        }
        if text == "-" || !text.starts_with('-') {
            break Some(token);
        }
        if let Some(long) = text.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, _)) => (name, true),
                None => (long, false),
            };
            let (target, takes) = match long_takes_value(&fleet, name) {
                Some(takes) => (&mut hoisted, takes),
                None => (&mut before, long_takes_value(&top, name).unwrap_or(false)),
            };
            target.push(token.clone());
            if takes && !inline {
                target.extend(tokens.next().cloned());
            }
            continue;
        }
        // A cluster of short options: the first that takes a value takes the rest of the
        // token, or the next token when it ends the cluster.
        before.push(token.clone());
        let shorts: Vec<char> = text[1..].chars().collect();
        if let Some(at) = shorts.iter().position(|&c| short_takes_value(c)) {
            if at + 1 == shorts.len() {
                before.extend(tokens.next().cloned());
            }
        }
    };
    let Some(subcommand) = subcommand.filter(|_| !hoisted.is_empty()) else {
        let mut all = vec![bin];
        all.extend(original_rest);
        return all;
    };
    let mut out = vec![bin];
    out.extend(before);
    out.push(subcommand.clone());
    out.extend(hoisted);
    out.extend(tokens.cloned());
    out
}

/// When clap rejects an argument that is a fleet option (given with a command that has none,
/// or with no command), the option's name, for a clearer message than clap's.
pub fn fleet_option_misplaced(error: &clap::Error) -> Option<String> {
    if error.kind() != ErrorKind::UnknownArgument {
        return None;
    }
    let Some(ContextValue::String(arg)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let name = arg.split_once('=').map_or(arg.as_str(), |(name, _)| name);
    let long = name.strip_prefix("--")?;
    FleetOpts::augment_args(clap::Command::new("fleet"))
        .get_arguments()
        .any(|a| a.get_long() == Some(long))
        .then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hoist(line: &str) -> String {
        let args = std::iter::once("ferry")
            .chain(line.split(' ').filter(|t| !t.is_empty()))
            .map(OsString::from)
            .collect();
        let out: Vec<String> = hoist_fleet_options(args)
            .into_iter()
            .skip(1)
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn fleet_options_before_the_subcommand_move_after_it() {
        let cases = [
            ("--fleet forwards all", "forwards --fleet all"),
            (
                "-v --fleet --parallel 2 -c x.toml --target=a forwards all -y",
                "-v -c x.toml forwards --fleet --parallel 2 --target=a all -y",
            ),
            ("-vc --fleet migrate all", "-vc --fleet migrate all"),
            (
                "-d sqlite:x.db --fleet check",
                "-d sqlite:x.db check --fleet",
            ),
            (
                "--table=t --keep-going status",
                "--table=t status --keep-going",
            ),
            ("forwards all --fleet", "forwards all --fleet"),
            ("--fleet", "--fleet"),
            ("--fleet -- forwards", "--fleet -- forwards"),
            (
                "--lock-timeout 5 --canary 1 backwards all",
                "--lock-timeout 5 backwards --canary 1 all",
            ),
        ];
        for (given, expected) in cases {
            assert_eq!(hoist(given), expected, "{given}");
        }
    }

    #[test]
    fn fleet_options_are_options_of_the_fleet_commands_only() {
        let top = crate::command();
        for command in top.get_subcommands() {
            let takes = command
                .get_arguments()
                .any(|a| a.get_long() == Some("fleet"));
            let fleet = matches!(
                command.get_name(),
                "forwards" | "backwards" | "check" | "drift"
            );
            assert_eq!(takes, fleet, "{}", command.get_name());
        }
        for (alias, name) in [
            ("migrate", "forwards"),
            ("rollback", "backwards"),
            ("status", "check"),
        ] {
            let found = top.find_subcommand(alias).map(clap::Command::get_name);
            assert_eq!(found, Some(name));
        }
    }
}
