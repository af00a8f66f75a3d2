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
fn readme_main_command_reads_files_that_exist() {
    let commands = readme_commands();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let inputs: Vec<&str> =
        commands[0].split_whitespace().filter(|w| w.starts_with("data/")).collect();
    assert!(!inputs.is_empty(), "main command reads the data/ export: {}", commands[0]);
    for input in inputs {
        assert!(root.join(input).exists(), "{input} is missing");
    }
}
