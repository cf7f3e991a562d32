//! Running the `gregor` CLI as a child process, and judging its output.

use super::gregor_bin;
use std::ffi::OsStr;
use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Runs `gregor ARGS` with `stdin` piped in; its whole output.
pub fn run<S: AsRef<OsStr>>(args: &[S], stdin: &str) -> Output {
    run_with_bytes(args, stdin.as_bytes())
}

/// [`run`] with input that need not be UTF-8.
pub fn run_with_bytes<S: AsRef<OsStr>>(args: &[S], stdin: &[u8]) -> Output {
    let mut child = Command::new(gregor_bin())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

/// The stdout of a run that must have succeeded.
pub fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The command failed with exactly one line on stderr; returns it.
pub fn one_line_failure(output: Output) -> String {
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(!output.status.success(), "succeeded: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}
