//! Who is in the export and when they were in hospital: subject and admission ids, admission
//! timelines, and the administrative columns of ADMISSIONS.
//!
//! Ids are planned up front, sequentially and cheaply, so that subjects can then be simulated in
//! any order (in parallel) while every id stays unique across the whole export.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

use super::{stream, ExportFormat, Stream};
use crate::timestamp::{parse_timestamp, Timestamp, HOUR};

/// The largest export [`Cohort::plan`] accepts: beyond it MIMIC-IV's 8-digit id ranges run out.
pub(super) const MAX_SUBJECTS: usize = 1_000_000;

const MINUTE: Timestamp = 60;
const DAY: Timestamp = 24 * HOUR;

/// Relative frequency of 1, 2, 3 and 4 admissions per subject. Most patients come once; MIMIC-III
/// has 58,976 admissions for 46,520 subjects (1.27 each), a little under this mix's 1.36.
const ADMISSIONS_PER_SUBJECT: [u32; 4] = [76, 15, 6, 3];

/// Share of subjects who die in hospital, at their last admission: with 1.36 admissions each,
/// about 10% of admissions end in death, MIMIC-III's HOSPITAL_EXPIRE_FLAG rate.
const DEATH_RATE: f64 = 0.135;

/// Share of admissions with no ICU stay, hence no CHARTEVENTS (MIMIC-III's
/// HAS_CHARTEVENTS_DATA = 0, about 1.5%); their labs are still drawn.
const NO_CHART_DATA_RATE: f64 = 0.02;

/// Share of survivors' ICU stays charted past the hospital discharge time.
const CHARTED_PAST_DISCHARGE_RATE: f64 = 0.2;

/// Which bedside system charted a stay; it decides the chart item ids. MIMIC-III mixes both
/// (CareVue 2001-2008, MetaVision 2008-2012); MIMIC-IV is MetaVision only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum System {
    CareVue,
    MetaVision,
}

/// A bijection from a counter onto a shuffled id range: ids look random, as MIMIC's do, yet never
/// collide. [`IdScramble::MULTIPLIER`] is a prime larger than any factor of a modulus besides 2
/// and 5, hence coprime to it.
#[derive(Clone, Copy, Debug)]
struct IdScramble {
    base: u64,
    modulus: u64,
    offset: u64,
}

impl IdScramble {
    const MULTIPLIER: u64 = 7_368_787;

    /// `count` ids out of `[base, base + modulus)`, `modulus` a multiple of 100,000 no smaller than
    /// `count`, so that `MULTIPLIER` is coprime to it.
    fn new(rng: &mut ChaCha8Rng, base: u64, modulus: u64, count: u64) -> Self {
        let modulus = modulus.max(count.div_ceil(100_000) * 100_000);
        IdScramble { base, modulus, offset: rng.gen_range(0..modulus) }
    }

    fn id(&self, counter: u64) -> u32 {
        let id = self.base + (counter * Self::MULTIPLIER + self.offset) % self.modulus;
        u32::try_from(id).expect("ids fit in 32 bits below MAX_SUBJECTS")
    }
}

/// One subject's slot in the plan: its id and where its admissions sit in the global numbering.
#[derive(Clone, Copy, Debug)]
pub(super) struct SubjectSlot {
    pub index: u64,
    pub subject_id: u32,
    first_admission: u64,
    admissions: u8,
}

/// The export's subjects and id ranges, fixed before any subject is simulated.
#[derive(Debug)]
pub(super) struct Cohort {
    pub format: ExportFormat,
    pub slots: Vec<SubjectSlot>,
    hadm_ids: IdScramble,
    stay_ids: IdScramble,
    specimen_ids: IdScramble,
}

impl Cohort {
    /// Numbers `subjects` subjects: ascending subject ids with random gaps spread over the
    /// format's range (MIMIC-III: 2 to about 100,000; MIMIC-IV: 10,000,000 to 19,999,999).
    pub fn plan(format: ExportFormat, subjects: usize, seed: u64) -> Self {
        let mut rng = stream(seed, Stream::Cohort, 0);
        let (first_id, span) = match format {
            ExportFormat::Mimic3 => (2, 99_000),
            ExportFormat::Mimic4 => (10_000_000, 9_900_000),
        };
        let mean_gap = (span / subjects.max(1) as u64).clamp(1, span);
        let mut subject_id = first_id;
        let mut admissions_so_far = 0;
        let mut slots = Vec::with_capacity(subjects);
        for index in 0..subjects as u64 {
            let admissions = pick_weighted(&mut rng, &ADMISSIONS_PER_SUBJECT) as u8 + 1;
            slots.push(SubjectSlot {
                index,
                subject_id: u32::try_from(subject_id).expect("subject ids fit in 32 bits"),
                first_admission: admissions_so_far,
                admissions,
            });
            admissions_so_far += u64::from(admissions);
            subject_id += rng.gen_range(1..=2 * mean_gap - 1);
        }
        let (hadm_ids, stay_ids) = match format {
            ExportFormat::Mimic3 => (
                IdScramble::new(&mut rng, 100_000, 100_000, admissions_so_far),
                IdScramble::new(&mut rng, 200_000, 100_000, admissions_so_far),
            ),
            ExportFormat::Mimic4 => (
                IdScramble::new(&mut rng, 20_000_000, 10_000_000, admissions_so_far),
                IdScramble::new(&mut rng, 30_000_000, 10_000_000, admissions_so_far),
            ),
        };
        // Up to 100 draws a subject fit MIMIC-IV's 8-digit specimen ids.
        let specimen_ids = IdScramble::new(&mut rng, 0, 100_000_000, 0);
        Cohort { format, slots, hadm_ids, stay_ids, specimen_ids }
    }

    /// The `counter`-th specimen's id (MIMIC-IV `specimen_id`).
    pub fn specimen_id(&self, counter: u64) -> u32 {
        self.specimen_ids.id(counter)
    }

    /// Lays out a subject's admissions in time, with their ADMISSIONS columns.
    pub fn admissions(&self, slot: &SubjectSlot, rng: &mut ChaCha8Rng) -> Vec<Admission> {
        let person = Person::draw(rng, self.format);
        let dies = rng.gen_bool(DEATH_RATE);
        let mut admit = first_admit_time(rng);
        (0..u64::from(slot.admissions))
            .map(|k| {
                let counter = slot.first_admission + k;
                let died = dies && k + 1 == u64::from(slot.admissions);
                let admission = Admission::draw(
                    rng,
                    self.format,
                    &person,
                    admit,
                    died,
                    self.hadm_ids.id(counter),
                    self.stay_ids.id(counter),
                );
                admit = admission.disch + gap_between_admissions(rng);
                admission
            })
            .collect()
    }
}

/// Index drawn with probability proportional to `weights`.
pub(super) fn pick_weighted(rng: &mut ChaCha8Rng, weights: &[u32]) -> usize {
    let mut ticket = rng.gen_range(0..weights.iter().sum::<u32>());
    for (index, &weight) in weights.iter().enumerate() {
        if ticket < weight {
            return index;
        }
        ticket -= weight;
    }
    unreachable!("the ticket is below the sum of the weights")
}

/// A time rounded down to the minute: MIMIC's admission and chart times have zero seconds.
pub(super) fn minute(ts: Timestamp) -> Timestamp {
    ts.div_euclid(MINUTE) * MINUTE
}

/// MIMIC shifts every patient's dates into 2100-2200 by a random offset of its own. Starting
/// between 2101 and 2185 leaves room for outpatient labs a year before, and for over a decade
/// of readmissions (three gaps of at most about four years) and labs after.
fn first_admit_time(rng: &mut ChaCha8Rng) -> Timestamp {
    let start = parse_timestamp(b"2101-01-01 00:00:00").expect("a valid date");
    let end = parse_timestamp(b"2185-01-01 00:00:00").expect("a valid date");
    minute(rng.gen_range(start..end))
}

/// Hospital length of stay: lognormal with a median of 4.5 days, so that about 1 stay in 60 lasts
/// longer than the 30-day (720-hour) window and has events the window cuts off.
fn length_of_stay(rng: &mut ChaCha8Rng) -> Timestamp {
    let days = LogNormal::new(4.5f64.ln(), 0.85).expect("valid parameters").sample(rng);
    minute((days.clamp(0.25, 150.0) * DAY as f64) as Timestamp)
}

/// Time out of hospital before a readmission: weeks to months, sometimes years.
fn gap_between_admissions(rng: &mut ChaCha8Rng) -> Timestamp {
    let days = LogNormal::new(75f64.ln(), 1.0).expect("valid parameters").sample(rng);
    minute((days.clamp(3.0, 1500.0) * DAY as f64) as Timestamp)
}

/// What stays the same about a patient from one admission to the next.
#[derive(Debug)]
struct Person {
    system: System,
    language: &'static str,
    religion: &'static str,
    marital_status: &'static str,
    ethnicity: &'static str,
    insurance: &'static str,
}

impl Person {
    fn draw(rng: &mut ChaCha8Rng, format: ExportFormat) -> Self {
        let text = Vocabulary::of(format);
        let system = match format {
            ExportFormat::Mimic3 if rng.gen_bool(0.5) => System::CareVue,
            _ => System::MetaVision,
        };
        Person {
            system,
            language: pick(rng, text.languages),
            religion: pick(rng, RELIGIONS),
            marital_status: pick(rng, text.marital_statuses),
            ethnicity: pick(rng, text.ethnicities),
            insurance: pick(rng, text.insurances),
        }
    }
}

/// A uniformly chosen entry; the vocabularies repeat common entries to weight them.
pub(super) fn pick<T: Copy>(rng: &mut ChaCha8Rng, choices: &[T]) -> T {
    *choices.choose(rng).expect("vocabularies are not empty")
}

/// One hospital admission with the times the event tables need and its ADMISSIONS columns.
#[derive(Clone, Debug)]
pub(super) struct Admission {
    pub hadm_id: u32,
    pub admit: Timestamp,
    pub disch: Timestamp,
    pub died: bool,
    /// The ICU stay that produced its chart events, or `None` (HAS_CHARTEVENTS_DATA = 0).
    pub icu_stay: Option<IcuStay>,
    pub system: System,
    pub emergency_department: Option<(Timestamp, Timestamp)>,
    pub text: AdmissionText,
    /// MIMIC-IV's `admit_provider_id`, e.g. `P49AFC`.
    pub provider: [u8; 6],
    /// How ill the patient arrives (0 is stable); vitals and labs share it. Patients who will
    /// die arrive sicker.
    pub severity: f64,
}

/// The ICU part of an admission: chart events are recorded between `intime` and `outtime`.
#[derive(Clone, Copy, Debug)]
pub(super) struct IcuStay {
    pub stay_id: u32,
    pub intime: Timestamp,
    pub outtime: Timestamp,
}

/// The free-text columns of an ADMISSIONS row, in the format's vocabulary.
#[derive(Clone, Debug)]
pub(super) struct AdmissionText {
    pub admission_type: &'static str,
    pub admission_location: &'static str,
    pub discharge_location: &'static str,
    pub insurance: &'static str,
    pub language: &'static str,
    pub religion: &'static str,
    pub marital_status: &'static str,
    pub ethnicity: &'static str,
    pub diagnosis: &'static str,
}

impl Admission {
    fn draw(
        rng: &mut ChaCha8Rng,
        format: ExportFormat,
        person: &Person,
        admit: Timestamp,
        died: bool,
        hadm_id: u32,
        stay_id: u32,
    ) -> Self {
        let text = Vocabulary::of(format);
        let disch = admit + length_of_stay(rng);
        let emergency = rng.gen_bool(0.7);
        let icu_stay = (!rng.gen_bool(NO_CHART_DATA_RATE))
            .then(|| IcuStay::draw(rng, stay_id, admit, disch, died));
        let emergency_department = emergency.then(|| {
            let registered = admit - minute(rng.gen_range(HOUR..10 * HOUR));
            (registered, admit + minute(rng.gen_range(0..2 * HOUR)))
        });
        let (types, locations) = if emergency {
            (text.emergency_types, text.emergency_locations)
        } else {
            (text.planned_types, text.planned_locations)
        };
        Admission {
            hadm_id,
            admit,
            disch,
            died,
            icu_stay,
            system: person.system,
            emergency_department,
            text: AdmissionText {
                admission_type: pick(rng, types),
                admission_location: pick(rng, locations),
                discharge_location: if died {
                    text.died
                } else {
                    pick(rng, text.discharge_locations)
                },
                insurance: if rng.gen_bool(0.9) {
                    person.insurance
                } else {
                    pick(rng, text.insurances)
                },
                language: person.language,
                religion: person.religion,
                marital_status: person.marital_status,
                ethnicity: person.ethnicity,
                diagnosis: pick(rng, DIAGNOSES),
            },
            provider: provider_id(rng),
            severity: rng.gen_range(0.0..1.0) + if died { 0.35 } else { 0.0 },
        }
    }
}

impl IcuStay {
    /// Patients reach the ICU within hours of admission (from the ED or the OR), sometimes days
    /// later after deteriorating on a ward, and survivors step down to a ward before going home;
    /// those who die stay in the ICU to the end. Some stays go on being charted for hours after
    /// the hospital discharge time, a known MIMIC inconsistency: their events fall between
    /// admissions, or after the last discharge where no admission claims them.
    fn draw(
        rng: &mut ChaCha8Rng,
        stay_id: u32,
        admit: Timestamp,
        disch: Timestamp,
        died: bool,
    ) -> Self {
        let los = disch - admit;
        let delay = match rng.gen_range(0..10) {
            0..=5 => rng.gen_range(0..6 * HOUR),
            6..=8 => rng.gen_range(6 * HOUR..2 * DAY),
            _ => rng.gen_range(2 * DAY..5 * DAY),
        };
        let intime = admit + minute(delay.min(los / 3));
        let outtime = if died {
            disch
        } else if rng.gen_bool(CHARTED_PAST_DISCHARGE_RATE) {
            return IcuStay {
                stay_id,
                intime,
                outtime: disch + minute(rng.gen_range(HOUR..18 * HOUR)),
            };
        } else {
            disch - minute((los as f64 * rng.gen_range(0.05..0.4)) as Timestamp)
        };
        IcuStay { stay_id, intime, outtime: outtime.max(intime + 4 * HOUR).min(disch) }
    }
}

/// A MIMIC-IV provider id: `P` and five characters of `0-9A-Z`.
pub(super) fn provider_id(rng: &mut ChaCha8Rng) -> [u8; 6] {
    const CHARS: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut id = [b'P'; 6];
    for byte in &mut id[1..] {
        *byte = pick(rng, CHARS);
    }
    id
}

/// The words each MIMIC version uses in ADMISSIONS; repeated entries are the common ones.
struct Vocabulary {
    emergency_types: &'static [&'static str],
    planned_types: &'static [&'static str],
    emergency_locations: &'static [&'static str],
    planned_locations: &'static [&'static str],
    discharge_locations: &'static [&'static str],
    died: &'static str,
    insurances: &'static [&'static str],
    languages: &'static [&'static str],
    marital_statuses: &'static [&'static str],
    ethnicities: &'static [&'static str],
}

impl Vocabulary {
    fn of(format: ExportFormat) -> &'static Vocabulary {
        match format {
            ExportFormat::Mimic3 => &MIMIC3_WORDS,
            ExportFormat::Mimic4 => &MIMIC4_WORDS,
        }
    }
}

static MIMIC3_WORDS: Vocabulary = Vocabulary {
    emergency_types: &["EMERGENCY", "EMERGENCY", "EMERGENCY", "URGENT"],
    planned_types: &["ELECTIVE"],
    emergency_locations: &[
        "EMERGENCY ROOM ADMIT",
        "EMERGENCY ROOM ADMIT",
        "TRANSFER FROM HOSP/EXTRAM",
        "CLINIC REFERRAL/PREMATURE",
    ],
    planned_locations: &["PHYS REFERRAL/NORMAL DELI", "TRANSFER FROM SKILLED NUR"],
    discharge_locations: &[
        "HOME",
        "HOME",
        "HOME HEALTH CARE",
        "SNF",
        "REHAB/DISTINCT PART HOSP",
        "LONG TERM CARE HOSPITAL",
        "SHORT TERM HOSPITAL",
        "HOSPICE-HOME",
    ],
    died: "DEAD/EXPIRED",
    insurances: &["Medicare", "Medicare", "Private", "Medicaid", "Government", "Self Pay"],
    languages: &["ENGL", "ENGL", "ENGL", "", "SPAN", "RUSS", "PTUN", "CANT"],
    marital_statuses: &["MARRIED", "MARRIED", "SINGLE", "WIDOWED", "DIVORCED", "SEPARATED", ""],
    ethnicities: &[
        "WHITE",
        "WHITE",
        "WHITE",
        "BLACK/AFRICAN AMERICAN",
        "UNKNOWN/NOT SPECIFIED",
        "HISPANIC OR LATINO",
        "ASIAN",
        "OTHER",
        "UNABLE TO OBTAIN",
        "WHITE - RUSSIAN",
        "HISPANIC/LATINO - PUERTO RICAN",
    ],
};

static MIMIC4_WORDS: Vocabulary = Vocabulary {
    emergency_types: &["EW EMER.", "EW EMER.", "EU OBSERVATION", "URGENT", "DIRECT EMER."],
    planned_types: &["ELECTIVE", "SURGICAL SAME DAY ADMISSION", "OBSERVATION ADMIT"],
    emergency_locations: &[
        "EMERGENCY ROOM",
        "EMERGENCY ROOM",
        "TRANSFER FROM HOSPITAL",
        "WALK-IN/SELF REFERRAL",
    ],
    planned_locations: &["PHYSICIAN REFERRAL", "CLINIC REFERRAL", "PROCEDURE SITE", "PACU"],
    discharge_locations: &[
        "HOME",
        "HOME",
        "HOME HEALTH CARE",
        "SKILLED NURSING FACILITY",
        "REHAB",
        "CHRONIC/LONG TERM ACUTE CARE",
        "HOSPICE",
        "AGAINST ADVICE",
        "",
    ],
    died: "DIED",
    insurances: &["Medicare", "Medicare", "Medicaid", "Other", "Other"],
    languages: &["ENGLISH", "ENGLISH", "ENGLISH", "?"],
    marital_statuses: &["MARRIED", "MARRIED", "SINGLE", "WIDOWED", "DIVORCED", ""],
    ethnicities: &[
        "WHITE",
        "WHITE",
        "WHITE",
        "BLACK/AFRICAN AMERICAN",
        "OTHER",
        "UNKNOWN",
        "HISPANIC/LATINO - PUERTO RICAN",
        "WHITE - OTHER EUROPEAN",
        "ASIAN - CHINESE",
        "UNABLE TO OBTAIN",
    ],
};

/// MIMIC-III only; MIMIC-IV dropped the column.
const RELIGIONS: &[&str] = &[
    "CATHOLIC",
    "CATHOLIC",
    "NOT SPECIFIED",
    "UNOBTAINABLE",
    "PROTESTANT QUAKER",
    "JEWISH",
    "OTHER",
    "EPISCOPALIAN",
    "",
];

/// MIMIC-III's admitting diagnosis: free text that often holds commas, semicolons, slashes and
/// now and then a quoted word, which a CSV reader must keep inside one field.
const DIAGNOSES: &[&str] = &[
    "PNEUMONIA",
    "SEPSIS",
    "CONGESTIVE HEART FAILURE",
    "CORONARY ARTERY DISEASE\\CORONARY ARTERY BYPASS GRAFT /SDA",
    "CHEST PAIN, R/O MI",
    "ALTERED MENTAL STATUS",
    "GASTROINTESTINAL BLEED",
    "UPPER GI BLEED, HYPOTENSION",
    "FEVER, R/O SEPSIS",
    "RESPIRATORY DISTRESS, HYPOXIA",
    "ACUTE RENAL FAILURE;HYPERKALEMIA",
    "S/P FALL, SUBDURAL HEMATOMA",
    "STROKE;TELEMETRY;TRANSIENT ISCHEMIC ATTACK",
    "DIABETIC KETOACIDOSIS",
    "HYPOTENSION, RENAL FAILURE",
    "ABDOMINAL PAIN",
    "PATIENT FOUND \"UNRESPONSIVE\"",
    "S/P MOTOR VEHICLE ACCIDENT, \"HIT BY CAR\"",
    "ACUTE RESPIRATORY FAILURE",
    "OVERDOSE",
    "AORTIC STENOSIS\\AORTIC VALVE REPLACEMENT /SDA",
    "LIVER FAILURE, ASCITES",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrambled_ids_are_unique_and_in_range() {
        let mut rng = stream(7, Stream::Cohort, 0);
        let scramble = IdScramble::new(&mut rng, 100_000, 100_000, 150_000);
        let mut ids: Vec<u32> = (0..150_000).map(|k| scramble.id(k)).collect();
        assert!(ids.iter().all(|id| (100_000..300_000).contains(id)));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 150_000);
    }
}
