//! The Python baseline is an oracle for the engine's tests, so its own tests run with ours:
//! a wrong oracle would make every comparison meaningless.

#[test]
fn python_baseline_passes_its_own_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("tools/test_medlens_baseline.py"))
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("OK"), "unittest ran no test: {text}");
}
