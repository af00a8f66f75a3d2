//! Blood draws: LABEVENTS rows for all 21 MedLens lab items and a few others.
//!
//! Inpatients get a routine morning draw most days and STAT draws every few hours while in the
//! ICU, so each test is seen every 6 to 24 hours; each draw runs a few panels (chemistry, blood
//! count, minerals, blood gas, liver, coagulation, urinalysis). Values come from a per-admission
//! [`Chemistry`] that drifts slowly and worsens with acuity, and derived tests are computed the
//! way the lab computes them (anion gap, red cell indices). Outpatient draws before, between and
//! after admissions carry no HADM_ID, as in real MIMIC.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::cohort::{minute, pick, provider_id, Admission};
use super::physiology::{acuity, Chemistry, LabValues};
use super::records::{LabDraw, LabLog, LabRow, LabTest, Reading};
use crate::timestamp::{Timestamp, HOUR};

const DAY: Timestamp = 24 * HOUR;

/// Chance a numeric result is reported in words (`HOLD`), with an empty VALUENUM.
const UNREPORTED_RATE: f64 = 0.003;
const UNREPORTED: &[&str] = &["HOLD", "UNABLE TO REPORT", "ERROR", "VERIFIED"];

/// Chance a result carries a lab comment (MIMIC-IV `comments`).
const COMMENT_RATE: f64 = 0.04;
const COMMENTS: &[&str] = &[
    "IF FASTING, 70-100 NORMAL, >125 PROVISIONAL DIABETES.",
    "HEMOLYSIS FALSELY ELEVATES K+, \"SLIGHTLY HEMOLYZED\" SPECIMEN.",
    "VERIFIED BY REPLICATE ANALYSIS.",
    "NOTIFIED DR. ___ AT 10:15, READ BACK.",
    "SPECIMEN RECEIVED \"CLOTTED\"; RESULTS MAY BE AFFECTED, REPEAT ADVISED.",
];

/// How a test's value is obtained from the draw's chemistry.
#[derive(Clone, Copy, Debug)]
enum Analyte {
    Sodium,
    Potassium,
    Chloride,
    Bicarbonate,
    AnionGap,
    Urea,
    Creatinine,
    Glucose,
    Calcium,
    Magnesium,
    Phosphate,
    Hemoglobin,
    Hematocrit,
    RedCells,
    Mch,
    Mchc,
    Mcv,
    Rdw,
    WhiteCells,
    Platelets,
    Ph,
    Po2,
    Pco2,
    BaseExcess,
    Lactate,
    /// Not tracked by [`Chemistry`]: lognormal around a median, with a spread.
    Skewed(f64, f64),
    Words(&'static [&'static str]),
}

#[derive(Debug)]
struct PanelTest {
    test: LabTest,
    analyte: Analyte,
}

const fn test(
    id: u32,
    unit: &'static str,
    decimals: u8,
    low: f64,
    high: f64,
    analyte: Analyte,
) -> PanelTest {
    PanelTest { test: LabTest { id, unit, decimals, normal: Some((low, high)) }, analyte }
}

const fn words(id: u32, words: &'static [&'static str]) -> PanelTest {
    PanelTest {
        test: LabTest { id, unit: "", decimals: 0, normal: None },
        analyte: Analyte::Words(words),
    }
}

const MEQ: &str = "mEq/L";
const MGDL: &str = "mg/dL";

static CHEMISTRY: [PanelTest; 8] = [
    test(50983, MEQ, 0, 133.0, 145.0, Analyte::Sodium),
    test(50971, MEQ, 1, 3.3, 5.1, Analyte::Potassium),
    test(50902, MEQ, 0, 96.0, 108.0, Analyte::Chloride),
    test(50882, MEQ, 0, 22.0, 32.0, Analyte::Bicarbonate),
    test(50868, MEQ, 0, 8.0, 20.0, Analyte::AnionGap),
    test(51006, MGDL, 0, 6.0, 20.0, Analyte::Urea),
    test(50912, MGDL, 1, 0.5, 1.2, Analyte::Creatinine),
    test(50931, MGDL, 0, 70.0, 100.0, Analyte::Glucose),
];

static BLOOD_COUNT: [PanelTest; 9] = [
    test(51222, "g/dL", 1, 12.0, 16.0, Analyte::Hemoglobin),
    test(51221, "%", 1, 36.0, 48.0, Analyte::Hematocrit),
    test(51279, "m/uL", 2, 4.2, 5.4, Analyte::RedCells),
    test(51248, "pg", 1, 27.0, 32.0, Analyte::Mch),
    test(51249, "%", 1, 31.0, 35.0, Analyte::Mchc),
    test(51250, "fL", 0, 82.0, 98.0, Analyte::Mcv),
    test(51277, "%", 1, 10.5, 15.5, Analyte::Rdw),
    test(51301, "K/uL", 1, 4.0, 11.0, Analyte::WhiteCells),
    test(51265, "K/uL", 0, 150.0, 440.0, Analyte::Platelets),
];

static MINERALS: [PanelTest; 3] = [
    test(50893, MGDL, 1, 8.4, 10.3, Analyte::Calcium),
    test(50960, MGDL, 1, 1.6, 2.6, Analyte::Magnesium),
    test(50970, MGDL, 1, 2.7, 4.5, Analyte::Phosphate),
];

static BLOOD_GAS: [PanelTest; 5] = [
    test(50820, "units", 2, 7.35, 7.45, Analyte::Ph),
    test(50821, "mm Hg", 0, 85.0, 105.0, Analyte::Po2),
    test(50818, "mm Hg", 0, 35.0, 45.0, Analyte::Pco2),
    test(50802, MEQ, 0, -2.0, 3.0, Analyte::BaseExcess),
    test(50813, "mmol/L", 1, 0.5, 2.0, Analyte::Lactate),
];

static LIVER: [PanelTest; 4] = [
    test(50861, "IU/L", 0, 0.0, 40.0, Analyte::Skewed(28.0, 0.7)),
    test(50878, "IU/L", 0, 0.0, 40.0, Analyte::Skewed(32.0, 0.7)),
    test(50885, MGDL, 1, 0.0, 1.5, Analyte::Skewed(0.8, 0.6)),
    test(50863, "IU/L", 0, 39.0, 117.0, Analyte::Skewed(85.0, 0.4)),
];

static COAGULATION: [PanelTest; 3] = [
    test(51237, "", 1, 0.9, 1.1, Analyte::Skewed(1.2, 0.2)),
    test(51274, "sec", 1, 10.4, 13.4, Analyte::Skewed(13.5, 0.15)),
    test(51275, "sec", 1, 22.0, 36.6, Analyte::Skewed(31.0, 0.2)),
];

static URINALYSIS: [PanelTest; 3] = [
    words(51508, &["Yellow", "Yellow", "Straw", "Amber"]),
    words(51506, &["Clear", "Clear", "Hazy", "Cloudy"]),
    words(51463, &["NONE", "NONE", "FEW", "MOD"]),
];

/// Kinds of draw, deciding priority and which panels are likely run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DrawKind {
    Morning,
    Stat,
    Outpatient,
}

impl DrawKind {
    /// Each panel with its chance of being run on this kind of draw.
    fn panels(self) -> [(&'static [PanelTest], f64); 7] {
        let (count, minerals, gas, liver, coag, urine) = match self {
            DrawKind::Morning => (0.85, 0.7, 0.15, 0.2, 0.3, 0.05),
            DrawKind::Stat => (0.5, 0.3, 0.45, 0.05, 0.15, 0.05),
            DrawKind::Outpatient => (0.6, 0.2, 0.0, 0.3, 0.2, 0.15),
        };
        [
            (&CHEMISTRY, 0.95),
            (&BLOOD_COUNT, count),
            (&MINERALS, minerals),
            (&BLOOD_GAS, gas),
            (&LIVER, liver),
            (&COAGULATION, coag),
            (&URINALYSIS, urine),
        ]
    }

    fn priority(self, rng: &mut ChaCha8Rng) -> &'static str {
        match self {
            DrawKind::Morning => "ROUTINE",
            DrawKind::Stat => "STAT",
            DrawKind::Outpatient => pick(rng, &["ROUTINE", ""]),
        }
    }
}

/// Draws all of a subject's labs into `log`: inpatient draws of each admission, then
/// outpatient visits.
pub(super) fn draw_labs(rng: &mut ChaCha8Rng, admissions: &[Admission], log: &mut LabLog) {
    for (index, admission) in admissions.iter().enumerate() {
        let mut chemistry = Chemistry::new(rng);
        let death = admission.died.then_some(admission.disch);
        for (t, kind) in inpatient_draw_times(rng, admission) {
            let acuity = acuity(admission.severity, admission.admit, death, t);
            let days_in = (t - admission.admit) as f64 / DAY as f64;
            let values = chemistry.draw(rng, t, days_in, acuity);
            record_draw(rng, log, Some(index), t, kind, &values);
        }
    }
    let mut chemistry = Chemistry::new(rng);
    for t in outpatient_visit_times(rng, admissions) {
        let values = chemistry.draw(rng, t, 0.0, 0.0);
        record_draw(rng, log, None, t, DrawKind::Outpatient, &values);
    }
}

/// In time order: a morning draw (between 3:30 and 6:30) on most days of the stay, and a STAT
/// draw in about a third of the 8-hour windows spent in the ICU.
fn inpatient_draw_times(rng: &mut ChaCha8Rng, admission: &Admission) -> Vec<(Timestamp, DrawKind)> {
    let mut times = Vec::new();
    let mut day = admission.admit.div_euclid(DAY) * DAY;
    while day < admission.disch {
        let t = day + minute(rng.gen_range(210 * 60..390 * 60));
        if (admission.admit..admission.disch).contains(&t) && rng.gen_bool(0.9) {
            times.push((t, DrawKind::Morning));
        }
        day += DAY;
    }
    if let Some(icu) = admission.icu_stay {
        for window in (icu.intime..icu.outtime).step_by(8 * HOUR as usize) {
            if rng.gen_bool(0.35) {
                let t = window + minute(rng.gen_range(0..8 * HOUR));
                times.push((t.min(icu.outtime), DrawKind::Stat));
            }
        }
    }
    times.sort_unstable_by_key(|&(t, _)| t);
    times
}

/// Outpatient visits over the year before the first admission to the year after the last
/// discharge (none after death), skipping any that would fall inside an admission.
fn outpatient_visit_times(rng: &mut ChaCha8Rng, admissions: &[Admission]) -> Vec<Timestamp> {
    let (Some(first), Some(last)) = (admissions.first(), admissions.last()) else {
        return Vec::new();
    };
    let end = if last.died { last.disch } else { last.disch + 365 * DAY };
    let mut times: Vec<Timestamp> = (0..rng.gen_range(0..=6))
        .map(|_| minute(rng.gen_range(first.admit - 365 * DAY..end)))
        .filter(|t| !admissions.iter().any(|a| (a.admit..=a.disch).contains(t)))
        .collect();
    times.sort_unstable();
    times
}

/// Runs the draw's panels on `values` and logs the specimen.
fn record_draw(
    rng: &mut ChaCha8Rng,
    log: &mut LabLog,
    admission: Option<usize>,
    charttime: Timestamp,
    kind: DrawKind,
    values: &LabValues,
) {
    let first = log.rows.len();
    for (panel, chance) in kind.panels() {
        if rng.gen_bool(chance) {
            for entry in panel {
                let reading = measure(rng, entry, values);
                let comment = if rng.gen_bool(COMMENT_RATE) { pick(rng, COMMENTS) } else { "" };
                log.rows.push(LabRow { test: &entry.test, reading, comment });
            }
        }
    }
    if log.rows.len() > first {
        log.draws.push(LabDraw {
            admission,
            charttime,
            storetime: charttime + minute(rng.gen_range(20 * 60..3 * HOUR)),
            priority: kind.priority(rng),
            provider: rng.gen_bool(0.4).then(|| provider_id(rng)),
            rows: first..log.rows.len(),
        });
    }
}

/// One result, rounded to the test's precision; now and then reported in words only.
fn measure(rng: &mut ChaCha8Rng, entry: &PanelTest, v: &LabValues) -> Reading {
    let red_cells = v.hematocrit / v.mcv * 10.0;
    let value = match entry.analyte {
        Analyte::Words(words) => return Reading::Text(pick(rng, words)),
        Analyte::Sodium => v.sodium,
        Analyte::Potassium => v.potassium,
        Analyte::Chloride => v.chloride,
        Analyte::Bicarbonate => v.bicarbonate,
        Analyte::AnionGap => (v.sodium - v.chloride - v.bicarbonate).max(3.0),
        Analyte::Urea => v.urea,
        Analyte::Creatinine => v.creatinine,
        Analyte::Glucose => v.glucose,
        Analyte::Calcium => v.calcium,
        Analyte::Magnesium => v.magnesium,
        Analyte::Phosphate => v.phosphate,
        Analyte::Hemoglobin => v.hemoglobin,
        Analyte::Hematocrit => v.hematocrit,
        Analyte::RedCells => red_cells,
        Analyte::Mch => v.hemoglobin / red_cells * 10.0,
        Analyte::Mchc => v.hemoglobin / v.hematocrit * 100.0,
        Analyte::Mcv => v.mcv,
        Analyte::Rdw => v.rdw,
        Analyte::WhiteCells => v.wbc,
        Analyte::Platelets => v.platelets,
        Analyte::Ph => v.ph,
        Analyte::Po2 => v.po2,
        Analyte::Pco2 => v.pco2,
        Analyte::BaseExcess => v.bicarbonate - 24.0,
        Analyte::Lactate => v.lactate,
        Analyte::Skewed(median, sigma) => {
            LogNormal::new(median.ln(), sigma).expect("valid parameters").sample(rng)
        }
    };
    if rng.gen_bool(UNREPORTED_RATE) {
        return Reading::Text(pick(rng, UNREPORTED));
    }
    Reading::fixed(value, entry.test.decimals)
}
