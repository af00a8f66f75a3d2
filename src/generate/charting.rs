//! When the ICU charts what: irregular, gappy, MIMIC-like CHARTEVENTS for one ICU stay.
//!
//! The bedside monitor's vitals are charted about hourly (MetaVision mostly exactly on the hour,
//! CareVue at looser times), a round now and then skipped and whole hours lost while the patient
//! is off the unit; nursing assessments (temperature, GCS, observations in words) every 4 hours;
//! glucose every 6; alarm limits and daily items rarely. Arterial pressure exists only while an
//! arterial line is in, CVP only with a central line, ventilator settings only while ventilated.
//! So core vitals fill most hours of a stay while most of MedLens's 720 bins stay empty.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::catalog::{
    Alarm, Catalog, Extra, TextItem, CAREVUE, METAVISION, METAVISION_SERUM_GLUCOSE,
};
use super::cohort::{minute, pick, Admission, IcuStay, System};
use super::physiology::{acuity, normal, Physiology, Vitals};
use super::records::{ChartLog, Flag, Item, Reading};
use crate::timestamp::{ceil_hour, Timestamp, HOUR};

/// Chance an hour is the start of an absence from the unit (imaging, surgery), which loses 1 to
/// 5 hours of charting.
const OFF_UNIT_PER_HOUR: f64 = 0.02;
/// Chance of a second, unscheduled set of vitals in an hour (after a drug, on an alarm).
const EXTRA_ROUND_RATE: f64 = 0.1;
/// Chance a numeric entry holds words instead (`Unable to assess`), with an empty VALUENUM.
const UNREADABLE_RATE: f64 = 0.003;
const UNREADABLE: &[&str] = &["Unable to assess", "Refused", "Not Done", "See comments"];
/// Chance a stay has entries documented after discharge: late charting lands between
/// admissions, or after the subject's last discharge, where no admission claims it.
const LATE_ENTRY_RATE: f64 = 0.3;

/// Charts `admission`'s ICU stay (if it has one) into `log`; `index` is its position among the
/// subject's admissions.
pub(super) fn chart_stay(
    rng: &mut ChaCha8Rng,
    admission: &Admission,
    index: usize,
    log: &mut ChartLog,
) {
    let Some(icu) = admission.icu_stay else {
        return;
    };
    let stay = Stay::draw(rng, admission, index, icu);
    let mut body = Physiology::new(rng);
    let mut off_unit = 0;
    let mut vitals = body.vitals(icu.intime, stay.acuity(icu.intime));
    for (slot, t) in (ceil_hour(icu.intime)..=icu.outtime).step_by(HOUR as usize).enumerate() {
        body.advance(rng);
        vitals = body.vitals(t, stay.acuity(t));
        if off_unit == 0 && rng.gen_bool(OFF_UNIT_PER_HOUR) {
            off_unit = rng.gen_range(1..=5);
        }
        if off_unit > 0 {
            off_unit -= 1;
            continue;
        }
        stay.chart_hour(rng, slot, t, &vitals, log);
    }
    if rng.gen_bool(LATE_ENTRY_RATE) {
        stay.late_entry(rng, admission.disch, &vitals, log);
    }
}

/// The fixed facts of one ICU stay that decide what gets charted.
struct Stay {
    catalog: &'static Catalog,
    system: System,
    admission: usize,
    icu: IcuStay,
    admit: Timestamp,
    death: Option<Timestamp>,
    initial_acuity: f64,
    arterial_line_until: Option<Timestamp>,
    central_line: bool,
    ventilated_until: Option<Timestamp>,
    /// Needs oxygen when not ventilated.
    oxygen: bool,
    weight_kg: f64,
    rhythm: &'static str,
    /// Low and high limits of each of the catalog's alarm pairs.
    alarm_limits: Vec<(f64, f64)>,
    nurses: [u32; 6],
    therapist: u32,
    /// Offset that spreads the 4-, 6- and 12-hourly schedules over the clock.
    phase: usize,
}

impl Stay {
    fn draw(rng: &mut ChaCha8Rng, admission: &Admission, index: usize, icu: IcuStay) -> Self {
        let catalog = match admission.system {
            System::CareVue => &CAREVUE,
            System::MetaVision => &METAVISION,
        };
        let sicker = if admission.died { 0.35 } else { 0.0 };
        let line_until = |rng: &mut ChaCha8Rng, chance: f64| {
            rng.gen_bool((chance + sicker).min(1.0)).then(|| {
                let share = if admission.died { 1.0 } else { rng.gen_range(0.3..1.0) };
                icu.intime + ((icu.outtime - icu.intime) as f64 * share) as Timestamp
            })
        };
        let arterial_line_until = line_until(rng, 0.45);
        let ventilated_until = line_until(rng, 0.3);
        let caregiver = |rng: &mut ChaCha8Rng| rng.gen_range(14_000..21_600);
        Stay {
            catalog,
            system: admission.system,
            admission: index,
            icu,
            admit: admission.admit,
            death: admission.died.then_some(admission.disch),
            initial_acuity: admission.severity,
            arterial_line_until,
            central_line: rng.gen_bool(0.35 + sicker),
            ventilated_until,
            oxygen: rng.gen_bool(0.5),
            weight_kg: (80.0 + 18.0 * normal(rng)).clamp(40.0, 180.0),
            rhythm: pick(rng, catalog.rhythm.words),
            alarm_limits: catalog
                .alarms
                .iter()
                .map(|pair| alarm_limits(rng, pair.guards))
                .collect(),
            nurses: std::array::from_fn(|_| caregiver(rng)),
            therapist: caregiver(rng),
            phase: rng.gen_range(0..24),
        }
    }

    fn acuity(&self, t: Timestamp) -> f64 {
        acuity(self.initial_acuity, self.admit, self.death, t)
    }

    fn arterial_line(&self, t: Timestamp) -> bool {
        self.arterial_line_until.is_some_and(|until| t <= until)
    }

    fn ventilated(&self, t: Timestamp) -> bool {
        self.ventilated_until.is_some_and(|until| t <= until)
    }

    /// Whether the patient breathes supplemental oxygen through a nasal cannula at `t`.
    fn on_cannula(&self, t: Timestamp) -> bool {
        self.oxygen && !self.ventilated(t)
    }

    /// The nurse on shift at `t`: 12-hour shifts changing at 7 and 19 o'clock.
    fn nurse(&self, t: Timestamp) -> u32 {
        let shift = (t - 7 * HOUR).div_euclid(12 * HOUR);
        self.nurses[shift.rem_euclid(self.nurses.len() as i64) as usize]
    }

    /// Everything charted in the hour ending at `t`, the `slot`-th hour of the stay.
    fn chart_hour(
        &self,
        rng: &mut ChaCha8Rng,
        slot: usize,
        t: Timestamp,
        v: &Vitals,
        log: &mut ChartLog,
    ) {
        let every = |hours: usize, offset: usize| (slot + self.phase + offset) % hours == 0;
        let round_rate = match self.system {
            System::MetaVision => 0.92,
            System::CareVue => 0.85,
        };
        if rng.gen_bool(round_rate) {
            self.monitor_round(rng, t, v, log);
        }
        if rng.gen_bool(EXTRA_ROUND_RATE) {
            let t = t - minute(rng.gen_range(0..HOUR));
            self.pressure_set(rng, t, v, log);
        }
        if every(4, 0) && rng.gen_bool(0.9) {
            self.assessment(rng, t, v, log);
        }
        if self.ventilated(t) && every(4, 2) && rng.gen_bool(0.9) {
            self.ventilator_check(rng, t, v, log);
        }
        if every(6, 1) && rng.gen_bool(0.85) {
            self.glucose_check(rng, t, v, log);
        }
        if every(12, 3) && rng.gen_bool(0.85) {
            self.alarm_review(rng, t, log);
        }
        if t.rem_euclid(24 * HOUR) == 2 * HOUR && rng.gen_bool(0.85) {
            self.daily(rng, t, log);
        }
        for occasional in self.catalog.occasional {
            if rng.gen_bool(occasional.per_hour) {
                for &(item, extra) in occasional.rows {
                    let reading = extra_value(rng, extra, v);
                    self.number(rng, log, item, reading, false);
                }
                self.close(rng, log, t, self.nurse(t));
            }
        }
    }

    /// Heart rate, saturation, respiratory rate and pressures, plus CVP with a central line, the
    /// rhythm and ectopy as seen on the monitor, and the oxygen flow of a nasal cannula. With an
    /// arterial line the cuff is still cycled now and then.
    fn monitor_round(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let c = self.catalog;
        let heart_rate = (v.heart_rate + 2.0 * normal(rng)).round();
        if rng.gen_bool(0.97) {
            self.number(
                rng,
                log,
                c.heart_rate,
                Reading::fixed(heart_rate, 0),
                !(50.0..=120.0).contains(&heart_rate),
            );
        }
        let spo2 = (v.spo2 + normal(rng)).round().min(100.0);
        if rng.gen_bool(0.95) {
            self.number(rng, log, c.spo2, Reading::fixed(spo2, 0), spo2 < 90.0);
        }
        let resp_rate = (v.resp_rate + 1.5 * normal(rng)).round().max(4.0);
        if rng.gen_bool(0.95) {
            self.number(
                rng,
                log,
                c.resp_rate,
                Reading::fixed(resp_rate, 0),
                !(8.0..=30.0).contains(&resp_rate),
            );
        }
        let arterial = self.arterial_line(t);
        if rng.gen_bool(0.95) {
            self.pressures(rng, log, v, arterial);
        }
        if arterial && rng.gen_bool(0.2) {
            self.pressures(rng, log, v, false);
        }
        if self.central_line && rng.gen_bool(0.6) {
            let cvp = (v.cvp + 2.0 * normal(rng)).round();
            self.number(rng, log, c.cvp, Reading::fixed(cvp, 0), false);
        }
        if rng.gen_bool(0.8) {
            let words = if rng.gen_bool(0.9) { self.rhythm } else { pick(rng, c.rhythm.words) };
            log.push(c.rhythm.item, Reading::Text(words), Flag::None);
        }
        if rng.gen_bool(0.5) {
            log.push(c.ectopy.item, Reading::Text(pick(rng, c.ectopy.words)), Flag::None);
        }
        if self.on_cannula(t) && rng.gen_bool(0.6) {
            let flow = ((v.fio2 - 21.0) / 4.0).round().clamp(1.0, 6.0);
            self.number(rng, log, c.o2_flow, Reading::fixed(flow, 0), false);
        }
        self.close(rng, log, t, self.nurse(t));
    }

    /// An unscheduled heart rate and pressure, as after a drug is given.
    fn pressure_set(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let heart_rate = (v.heart_rate + 2.0 * normal(rng)).round();
        self.number(rng, log, self.catalog.heart_rate, Reading::fixed(heart_rate, 0), false);
        self.pressures(rng, log, v, self.arterial_line(t));
        self.close(rng, log, t, self.nurse(t));
    }

    /// Systolic, diastolic and mean pressure from one measurement. The arterial line reads
    /// systolic a little higher than the cuff and is far less noisy; either way the mean is the
    /// device's (S + 2D) / 3 of its own readings, give or take a mmHg.
    fn pressures(&self, rng: &mut ChaCha8Rng, log: &mut ChartLog, v: &Vitals, arterial: bool) {
        let (items, bias, spread) = if arterial {
            (self.catalog.arterial, 4.0, 0.4)
        } else {
            (self.catalog.cuff, 0.0, 1.0)
        };
        let systolic = (v.systolic + bias + spread * 5.0 * normal(rng)).round();
        let diastolic =
            (v.diastolic - bias / 2.0 + spread * 4.0 * normal(rng)).round().min(systolic - 10.0);
        let mean = ((systolic + 2.0 * diastolic) / 3.0 + normal(rng)).round();
        let alarming = !(90.0..=160.0).contains(&systolic);
        for (item, value) in items.into_iter().zip([systolic, diastolic, mean]) {
            self.number(rng, log, item, Reading::fixed(value, 0), alarming);
        }
    }

    /// The 4-hourly nursing assessment: temperature, GCS, and observations in words.
    fn assessment(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let c = self.catalog;
        let fahrenheit = (((v.temp_c + 0.15 * normal(rng)) * 1.8 + 32.0) * 10.0).round() / 10.0;
        match c.temp_c_calc {
            // CareVue stored entries as float32 and derived Celsius in double precision.
            Some(celsius) => {
                let stored = f64::from(fahrenheit as f32);
                self.number(rng, log, c.temp_f, Reading::Exact(stored), false);
                log.push(celsius, Reading::Exact((stored - 32.0) * 5.0 / 9.0), Flag::None);
            }
            None => {
                self.number(rng, log, c.temp_f, Reading::fixed(fahrenheit, 1), fahrenheit > 100.4)
            }
        }
        self.coma_scale(rng, t, v, log);
        for text in c.assessment {
            if rng.gen_bool(0.85) {
                log.push(text.item, Reading::Text(pick(rng, text.words)), Flag::None);
            }
        }
        if self.on_cannula(t) && rng.gen_bool(0.5) {
            let fio2 = (v.fio2.clamp(21.0, 50.0) / 2.0).round() * 2.0;
            self.number(rng, log, c.fio2, Reading::fixed(fio2, 0), false);
        }
        self.close(rng, log, t, self.nurse(t));
    }

    /// GCS eye, verbal and motor responses (and CareVue's total) from the latent level.
    /// Components are integers that change slowly; an intubated patient cannot speak and is
    /// charted `No Response-ETT`, and sedation lowers the rest.
    fn coma_scale(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let c = self.catalog;
        let intubated = self.ventilated(t);
        let level = if intubated { v.gcs - 4.0 } else { v.gcs }.clamp(3.0, 15.0);
        let share = (level - 3.0) / 12.0;
        let mut score = |span: f64, max: u8| {
            (1.0 + span + 0.15 * normal(rng)).round().clamp(1.0, f64::from(max)) as u8
        };
        let eye = score(3.0 * share.powf(0.6), 4);
        let motor = score(5.0 * share.powf(0.7), 6);
        let verbal = if intubated { 1 } else { score(4.0 * share.powf(1.3), 5) };
        let verbal_words =
            if intubated { "No Response-ETT" } else { c.gcs_words.verbal[usize::from(verbal) - 1] };
        let rows = [
            (c.gcs_eye, c.gcs_words.eye[usize::from(eye) - 1], eye),
            (c.gcs_verbal, verbal_words, verbal),
            (c.gcs_motor, c.gcs_words.motor[usize::from(motor) - 1], motor),
        ];
        for (item, text, score) in rows {
            self.number(rng, log, item, Reading::Coded { text, score }, false);
        }
        if let Some(total) = c.gcs_total {
            self.number(rng, log, total, Reading::fixed(f64::from(eye + verbal + motor), 0), false);
        }
    }

    /// The respiratory therapist's check: FiO2, PEEP and tidal volume.
    fn ventilator_check(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let c = self.catalog;
        let fio2 = (v.fio2.clamp(30.0, 100.0) / 5.0).round() * 5.0;
        self.number(rng, log, c.fio2, Reading::fixed(fio2, 0), false);
        if let Some(fraction) = c.fio2_fraction {
            self.number(rng, log, fraction, Reading::fixed(fio2 / 100.0, 2), false);
        }
        let peep = 5.0 + 2.5 * (v.fio2 / 25.0).floor().min(4.0);
        self.number(rng, log, c.peep, Reading::fixed(peep, 0), false);
        let tidal_volume = (6.5 * self.weight_kg / 10.0).round() * 10.0;
        self.number(
            rng,
            log,
            c.tidal_volume,
            Reading::fixed(tidal_volume.clamp(300.0, 700.0), 0),
            false,
        );
        self.close(rng, log, t, self.therapist);
    }

    fn glucose_check(&self, rng: &mut ChaCha8Rng, t: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let item = match self.system {
            System::MetaVision if rng.gen_bool(0.2) => METAVISION_SERUM_GLUCOSE,
            _ => self.catalog.glucose,
        };
        let glucose = (v.glucose + 8.0 * normal(rng)).round();
        self.number(rng, log, item, Reading::fixed(glucose, 0), !(70.0..=180.0).contains(&glucose));
        self.close(rng, log, t, self.nurse(t));
    }

    /// Alarm limits for every line the patient has, and the alarms-reviewed flag.
    fn alarm_review(&self, rng: &mut ChaCha8Rng, t: Timestamp, log: &mut ChartLog) {
        for (pair, &(low, high)) in self.catalog.alarms.iter().zip(&self.alarm_limits) {
            let present = match pair.guards {
                Alarm::ArterialPressure => self.arterial_line(t),
                Alarm::VenousPressure => self.central_line,
                _ => true,
            };
            if present {
                self.number(rng, log, pair.low, Reading::fixed(low, 0), false);
                self.number(rng, log, pair.high, Reading::fixed(high, 0), false);
            }
        }
        self.number(rng, log, self.catalog.alarms_on, Reading::fixed(1.0, 0), false);
        self.close(rng, log, t, self.nurse(t));
    }

    /// Weight and the once-a-day items, charted at 2 am.
    fn daily(&self, rng: &mut ChaCha8Rng, t: Timestamp, log: &mut ChartLog) {
        let c = self.catalog;
        let kg = self.weight_kg + 0.8 * normal(rng);
        self.number(rng, log, c.weight_kg, Reading::fixed(kg, 1), false);
        if let Some(pounds) = c.weight_lb.filter(|_| rng.gen_bool(0.4)) {
            self.number(rng, log, pounds, Reading::fixed(kg * 2.2046, 1), false);
        }
        for text in c.daily {
            log.push(text.item, Reading::Text(pick(rng, text.words)), Flag::None);
        }
        self.close(rng, log, t, self.nurse(t));
    }

    /// Vitals documented after the patient left: minutes to hours after discharge.
    fn late_entry(&self, rng: &mut ChaCha8Rng, disch: Timestamp, v: &Vitals, log: &mut ChartLog) {
        let t = disch + minute(rng.gen_range(5 * 60..6 * HOUR));
        let heart_rate = (v.heart_rate + 2.0 * normal(rng)).round();
        self.number(rng, log, self.catalog.heart_rate, Reading::fixed(heart_rate, 0), false);
        self.pressures(rng, log, v, false);
        if rng.gen_bool(0.5) {
            let TextItem { item, words } = &self.catalog.rhythm;
            log.push(*item, Reading::Text(pick(rng, words)), Flag::None);
        }
        let storetime = t + minute(rng.gen_range(0..HOUR));
        log.close(self.admission, t, storetime, self.nurse(t));
    }

    /// Adds a numeric row, now and then unreadable, flagged the way the system flags it.
    fn number(
        &self,
        rng: &mut ChaCha8Rng,
        log: &mut ChartLog,
        item: Item,
        reading: Reading,
        alarming: bool,
    ) {
        let reading = if rng.gen_bool(UNREADABLE_RATE) {
            Reading::Text(pick(rng, UNREADABLE))
        } else {
            reading
        };
        let flag = match self.system {
            System::MetaVision if rng.gen_bool(0.001) => Flag::Error,
            System::MetaVision if alarming => Flag::Warning,
            System::CareVue if rng.gen_bool(0.01) => Flag::Stopped,
            _ => Flag::None,
        };
        log.push(item, reading, flag);
    }

    /// Closes the rows pushed so far into one charting action around the hour ending at `t`:
    /// MetaVision charts mostly exactly on the hour, CareVue at looser times, and entries are
    /// stored minutes to hours after they are charted. Times are kept within the stay.
    fn close(&self, rng: &mut ChaCha8Rng, log: &mut ChartLog, t: Timestamp, caregiver: u32) {
        let on_the_hour = match self.system {
            System::MetaVision => 0.75,
            System::CareVue => 0.45,
        };
        let charttime = if rng.gen_bool(on_the_hour) {
            t
        } else {
            t + minute(rng.gen_range(-45 * 60..20 * 60))
        };
        let charttime = charttime.clamp(self.icu.intime, self.icu.outtime);
        let delay = if rng.gen_bool(0.4) {
            rng.gen_range(0..5 * 60)
        } else {
            rng.gen_range(5 * 60..2 * HOUR)
        };
        log.close(self.admission, charttime, charttime + minute(delay), caregiver);
    }
}

/// A stay's low and high alarm limits; nurses pick from a few customary settings.
fn alarm_limits(rng: &mut ChaCha8Rng, alarm: Alarm) -> (f64, f64) {
    let choices: &[(f64, f64)] = match alarm {
        Alarm::HeartRate => &[(50.0, 120.0), (50.0, 130.0), (45.0, 110.0)],
        Alarm::Saturation => &[(90.0, 100.0), (92.0, 100.0), (88.0, 100.0)],
        Alarm::Breathing => &[(8.0, 30.0), (8.0, 35.0), (10.0, 30.0)],
        Alarm::CuffPressure | Alarm::ArterialPressure => {
            &[(90.0, 160.0), (80.0, 180.0), (90.0, 150.0)]
        }
        Alarm::VenousPressure => &[(0.0, 20.0), (2.0, 18.0)],
    };
    pick(rng, choices)
}

/// A reading at one of CareVue's rarely used sites.
fn extra_value(rng: &mut ChaCha8Rng, extra: Extra, v: &Vitals) -> Reading {
    let value = match extra {
        Extra::ArterialSaturation => (v.spo2 + normal(rng)).min(100.0),
        Extra::CuffSystolic => v.systolic + 5.0 * normal(rng),
        Extra::CuffDiastolic => v.diastolic + 4.0 * normal(rng),
        Extra::RespRate => v.resp_rate + 1.5 * normal(rng),
        Extra::CoreTempC => return Reading::fixed(v.temp_c + 0.1 * normal(rng), 1),
        Extra::SkinTempC => return Reading::fixed(v.temp_c - 1.2 + 0.4 * normal(rng), 1),
    };
    Reading::fixed(value, 0)
}
