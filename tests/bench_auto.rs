//! `medimpute bench auto`: auto against every candidate, on the quick set.

mod common;

use common::*;

#[test]
fn quick_set_reports_every_candidate_and_autos_choice() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let out_s = out.display().to_string();
    // One run asked for, and rounds up to a tenth of a second: the tiny locf job (a few
    // milliseconds) gets more.
    let output =
        run(&["bench", "auto", "--quick", "--runs", "1", "--min-time", "0.1", "--out-dir", &out_s]);
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("| workload | best candidate |"), "{stdout}");
    assert!(stdout.contains("within 10% of the best candidate"), "{stdout}");
    assert!(stdout.contains("byte-identical"), "{stdout}");

    for name in ["auto.md", "auto.json"] {
        assert!(out.join(name).is_file(), "{name} missing");
        assert!(stdout.contains(&out.join(name).display().to_string()), "{name} not listed");
    }
    // Only the two files: the exports and grids went to a scratch directory that is gone.
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2);

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("auto.json")).unwrap()).unwrap();
    let candidates: Vec<&str> =
        json["candidates"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert!(candidates.contains(&"serial"), "{candidates:?}");
    let workloads = json["workloads"].as_array().unwrap();
    assert!(workloads.len() >= 2, "{json}");
    for w in workloads {
        let measured: Vec<&str> = w["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["label"].as_str().unwrap())
            .collect();
        assert_eq!(measured, candidates, "{w}");
        let rounds = w["rounds"].as_u64().unwrap() as usize;
        assert!((1..=100).contains(&rounds), "{w}");
        assert_eq!(w["auto"]["runs"].as_array().unwrap().len(), rounds, "{w}");
        for c in w["candidates"].as_array().unwrap() {
            assert_eq!(c["runs_s"].as_array().unwrap().len(), rounds, "{c}");
            assert!(c["median_s"].as_f64().unwrap() > 0.0, "{c}");
        }
        let auto = &w["auto"];
        assert!(auto["median_s"].as_f64().unwrap() > 0.0, "{auto}");
        assert!(auto["profiling_s"].as_f64().unwrap() > 0.0, "{auto}");
        assert!(!auto["chosen"].as_str().unwrap().is_empty(), "{auto}");
        // Starting the backends is timed within the job, apart from its profiling.
        for r in auto["runs"].as_array().unwrap() {
            let (seconds, profiling) =
                (r["seconds"].as_f64().unwrap(), r["profiling_s"].as_f64().unwrap());
            let starting = r["starting_s"].as_f64().unwrap();
            assert!(starting > 0.0 && profiling + starting < seconds, "{r}");
        }
        let choices = auto["runs"][0]["choices"].as_array().unwrap();
        let stages: Vec<&str> = choices.iter().map(|c| c["stage"].as_str().unwrap()).collect();
        assert_eq!(stages, ["sample", "impute"], "{auto}");
        for c in choices {
            assert!(candidates.contains(&c["backend"]["label"].as_str().unwrap()), "{c}");
            assert!(c["predicted_s"].as_f64().unwrap().is_finite(), "{c}");
        }
        assert!(w["ratio"].as_f64().unwrap() > 0.0, "{w}");
        assert!(w["within_10pct"].is_boolean(), "{w}");
        // The paired ratio sets each round's auto run against the best candidate's run of the
        // same round.
        let best = &w["best"]["backend"];
        let candidates = w["candidates"].as_array().unwrap();
        let best_runs =
            candidates.iter().find(|c| &c["label"] == best).unwrap()["runs_s"].as_array().unwrap();
        let mut ratios: Vec<f64> = auto["runs"]
            .as_array()
            .unwrap()
            .iter()
            .zip(best_runs)
            .map(|(a, b)| a["seconds"].as_f64().unwrap() / b.as_f64().unwrap())
            .collect();
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median =
            if n % 2 == 1 { ratios[n / 2] } else { (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0 };
        let paired = w["paired_ratio"].as_f64().unwrap();
        assert!((paired - median).abs() <= 1e-9 * median, "{paired} against {median}: {w}");
    }
    let locf = workloads.iter().find(|w| w["method"] == "locf").unwrap();
    assert!(locf["rounds"].as_u64().unwrap() > 1, "{locf}");
    let totals = &json["totals"];
    assert_eq!(totals["workloads"].as_u64().unwrap() as usize, workloads.len());
    assert!(totals["profiling_share_max"].as_f64().unwrap() > 0.0, "{totals}");
    let paired_within =
        workloads.iter().filter(|w| w["paired_ratio"].as_f64().unwrap() <= 1.10).count();
    assert_eq!(totals["within_10pct_paired"].as_u64().unwrap() as usize, paired_within);
}

#[test]
fn bad_options_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    for bad in [["--runs", "0"], ["--target-cores", "0"], ["--min-time", "-1"]] {
        let output = run(&["bench", "auto", "--quick", bad[0], bad[1], "--out-dir", &out]);
        assert_eq!(output.status.code(), Some(2), "{bad:?}: {}", text(&output));
    }
    // Nothing was measured, nothing written.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}
