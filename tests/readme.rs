//! The README's first lines are the two commands a new user runs; CI must run the same test
//! command, or a green CI would prove nothing about the README.

fn readme_commands() -> Vec<String> {
    let readme = include_str!("../README.md");
    let block = readme.split("```sh\n").nth(1).expect("README starts with a sh block");
    block.split("```").next().unwrap().lines().map(str::to_string).collect()
}

#[test]
fn ci_runs_the_readme_test_command() {
    let commands = readme_commands();
    assert_eq!(commands.len(), 2, "two set-up commands: {commands:?}");
    assert!(commands[1].contains("cargo test"), "second command runs the tests: {}", commands[1]);
    let ci = include_str!("../.ci/run");
    assert!(ci.lines().any(|l| l.trim() == commands[1]), "{:?} not in .ci/run", commands[1]);
}

#[test]
fn readme_main_command_runs_the_main_job_on_the_shipped_export() {
    let commands = readme_commands();
    let words: Vec<&str> = commands[0].split_whitespace().collect();
    let args = &words[words.iter().position(|&w| w == "--").expect("cargo run -- ...") + 1..];
    assert_eq!(args[0], "run", "the main job is `run`: {}", commands[0]);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imputed.npy");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_medimpute"));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"));
    // The README's arguments, with the output sent to a scratch directory and fewer trees.
    let mut rest = args.iter();
    while let Some(&arg) = rest.next() {
        if arg == "--out" {
            rest.next();
            continue;
        }
        cmd.arg(arg);
    }
    let output = cmd.arg("--out").arg(&out).arg("--trees").arg("4").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(out.exists() && medimpute::pipeline::observed_path(&out).exists());
}
