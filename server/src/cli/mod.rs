//! The bodies of the `shihua` subcommands; `main.rs` only wires them to clap. Each file holds
//! one command's flags and what it does: [`index`], [`search`], [`collection`], [`models`],
//! [`embed`] (`serve` is [`crate::serve`], `poems` is [`crate::poems::cli`]).
//!
//! Results go to stdout through [`outln!`](crate::outln), which hands a failed write back as
//! an error instead of panicking, so that `shihua … | head` ends quietly when the reader
//! closes the pipe: `main` exits 0 on [`is_broken_pipe`], as command-line tools do.

pub mod collection;
pub mod embed;
pub mod index;
pub mod models;
pub mod search;

/// `println!` for command output that returns the `std::io::Result` of the write instead of
/// panicking on a closed pipe (see [`is_broken_pipe`]).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// `print!` counterpart of [`outln!`](crate::outln).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)
    }};
}

/// The command failed only because whoever read its output went away (`| head`): not an
/// error to report.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_told_from_other_errors() {
        let pipe = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(
            &anyhow::Error::new(pipe).context("printing")
        ));
        let other = std::io::Error::from(std::io::ErrorKind::NotFound);
        assert!(!is_broken_pipe(&anyhow::Error::new(other)));
        assert!(!is_broken_pipe(&anyhow::anyhow!("broken pipe")));
    }
}
