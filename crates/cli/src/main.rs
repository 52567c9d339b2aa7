//! The `ferry` binary: a thin wrapper over `ferry_cli`.

fn main() {
    let code = ferry_cli::main_with_args(std::env::args_os().collect());
    std::process::exit(code);
}
