//! The `sqlvault` command-line tool. See `sqlvault --help` and the README's "CLI" section.
#![forbid(unsafe_code)]

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
