//! A command whose reader goes away (`shihua embed --text … | head -c 100`) ends quietly, as
//! command-line tools do: exit status 0 and no panic about the broken pipe on stderr.

mod common;

use std::process::{ExitStatus, Stdio};

/// Runs `shihua args` with its stdout a pipe whose read end is closed at once, before the
/// command prints anything: (exit status, stderr).
fn with_stdout_closed(args: &[&str]) -> (ExitStatus, String) {
    let tmp = tempfile::tempdir().unwrap();
    // No command here opens the store; the path only keeps a stray one out of the checkout.
    let uri = tmp.path().join("unused.db");
    let mut child = common::shihua_cmd(uri.to_str().unwrap(), args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    // embed loads the model first, so its reader is surely gone when it prints.
    for args in [&["embed", "--text", "春眠不觉晓"][..], &["models", "list"]] {
        let (status, err) = with_stdout_closed(args);
        assert!(
            !err.contains("panicked") && !err.contains("Broken pipe"),
            "{args:?} complained about the closed pipe:\n{err}"
        );
        assert_eq!(status.code(), Some(0), "{args:?}:\n{err}");
    }
}
