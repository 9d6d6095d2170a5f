//! The main job, `sqlvault demo`, runs to completion and checks what it claims.

use std::process::Command;

#[test]
fn demo_runs_and_passes_its_checks() {
    let out = Command::new(env!("CARGO_BIN_EXE_sqlvault"))
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        "no plaintext",
        "a wrong passphrase is refused: wrong key",
        "demo passed",
    ] {
        assert!(stdout.contains(expected), "missing {expected:?} in:\n{stdout}");
    }
}
