//! The hidden patient behind the numbers: a latent physiological state per ICU stay that evolves
//! hour by hour, from which every vital sign is read.
//!
//! Each latent component is an AR(1) process (an Ornstein-Uhlenbeck process sampled hourly):
//! neighbouring hours are alike, distant ones forget each other, which is exactly the structure a
//! windowed imputer exploits. Vitals are linear read-outs of shared components, so they correlate
//! the way real ones do: systolic and diastolic pressure share one pressure component (and the
//! mean charted with them is (SBP + 2 DBP) / 3), heart and respiratory rate share a drive
//! component. On top sit a 24-hour rhythm (lowest at 4 am) and the acuity of the illness, which
//! fades as survivors recover and climbs over the last days of those who die.

use std::f64::consts::TAU;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::timestamp::{Timestamp, HOUR};

/// Draws from N(0, 1).
pub(super) fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// One step of an AR(1) process with unit stationary variance and lag-1 correlation `phi`.
fn ar1(z: f64, phi: f64, shock: f64) -> f64 {
    phi * z + (1.0 - phi * phi).sqrt() * shock
}

/// Illness acuity at time `t`: 0 is stable. Survivors start ill and recover over days; patients
/// who die decline over their last three days.
pub(super) fn acuity(
    initial: f64,
    admitted: Timestamp,
    death: Option<Timestamp>,
    t: Timestamp,
) -> f64 {
    let recovery = initial * (-((t - admitted) as f64) / (72 * HOUR) as f64).exp();
    let decline = death.map_or(0.0, |death| {
        let left = ((death - t) as f64 / (72 * HOUR) as f64).clamp(0.0, 1.0);
        2.5 * (1.0 - left).powi(2)
    });
    recovery + decline
}

/// The cosine of the 24-hour cycle at time `t`: +1 at 4 pm, -1 at 4 am.
pub(super) fn circadian(t: Timestamp) -> f64 {
    let hour_of_day = t.rem_euclid(24 * HOUR) as f64 / HOUR as f64;
    (TAU * (hour_of_day - 16.0) / 24.0).cos()
}

/// The true values of the vitals at one moment, before any device or nurse measures them.
#[derive(Clone, Copy, Debug)]
pub(super) struct Vitals {
    pub heart_rate: f64,
    pub resp_rate: f64,
    pub spo2: f64,
    pub systolic: f64,
    pub diastolic: f64,
    pub temp_c: f64,
    pub cvp: f64,
    /// Glasgow coma scale as a continuous 3-15 level; charting rounds its components.
    pub gcs: f64,
    /// Oxygen the patient needs, as an inspired fraction in percent (21 is room air).
    pub fio2: f64,
    pub glucose: f64,
}

/// Where a patient's vitals sit when stable; drawn once per stay.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    heart_rate: f64,
    resp_rate: f64,
    systolic: f64,
    diastolic: f64,
    temp_c: f64,
    cvp: f64,
    gcs: f64,
    glucose: f64,
}

/// The AR(1) components, each with unit variance.
#[derive(Clone, Copy, Debug, Default)]
struct Latent {
    pressure: f64,
    pulse_pressure: f64,
    drive: f64,
    breathing: f64,
    temperature: f64,
    oxygenation: f64,
    neuro: f64,
    glucose: f64,
}

/// One stay's latent state; call [`Physiology::advance`] once per hour, then read [`Physiology::vitals`].
#[derive(Clone, Debug)]
pub(super) struct Physiology {
    base: Baseline,
    z: Latent,
}

impl Physiology {
    pub fn new(rng: &mut ChaCha8Rng) -> Self {
        let systolic = 122.0 + 14.0 * normal(rng);
        let base = Baseline {
            heart_rate: 86.0 + 12.0 * normal(rng),
            resp_rate: 18.0 + 3.0 * normal(rng),
            systolic,
            diastolic: (0.5 * systolic + 1.0 + 7.0 * normal(rng)).max(35.0),
            temp_c: 36.9 + 0.3 * normal(rng),
            cvp: 9.0 + 3.0 * normal(rng),
            gcs: 15.0 - (3.5 * normal(rng)).abs(),
            glucose: 135.0 + 25.0 * normal(rng),
        };
        let mut z = Latent::default();
        for component in z.components_mut() {
            *component = normal(rng);
        }
        Physiology { base, z }
    }

    /// Moves the state one hour on. Heart and respiratory rate get correlated shocks: both follow
    /// the same sympathetic drive.
    pub fn advance(&mut self, rng: &mut ChaCha8Rng) {
        let z = &mut self.z;
        let drive_shock = normal(rng);
        z.pressure = ar1(z.pressure, 0.92, normal(rng));
        z.pulse_pressure = ar1(z.pulse_pressure, 0.8, normal(rng));
        z.drive = ar1(z.drive, 0.9, drive_shock);
        z.breathing = ar1(z.breathing, 0.85, 0.6 * drive_shock + 0.8 * normal(rng));
        z.temperature = ar1(z.temperature, 0.95, normal(rng));
        z.oxygenation = ar1(z.oxygenation, 0.9, normal(rng));
        z.neuro = ar1(z.neuro, 0.985, normal(rng));
        z.glucose = ar1(z.glucose, 0.9, normal(rng));
    }

    /// The true vitals at time `t` for a given `acuity`: illness raises heart and respiratory
    /// rate, lowers pressure, saturation and consciousness, and raises the oxygen needed.
    pub fn vitals(&self, t: Timestamp, acuity: f64) -> Vitals {
        let (b, z, day) = (&self.base, &self.z, circadian(t));
        let systolic = b.systolic + 13.0 * z.pressure + 5.0 * day - 16.0 * acuity;
        let diastolic =
            b.diastolic + 7.0 * z.pressure + 3.0 * z.pulse_pressure + 3.0 * day - 9.0 * acuity;
        let spo2 = 97.0 + 1.3 * z.oxygenation - 3.5 * acuity;
        Vitals {
            heart_rate: (b.heart_rate + 10.0 * z.drive + 4.0 * day + 16.0 * acuity)
                .clamp(30.0, 190.0),
            resp_rate: (b.resp_rate + 3.0 * z.breathing + 1.0 * day + 5.0 * acuity)
                .clamp(5.0, 50.0),
            spo2: spo2.clamp(65.0, 100.0),
            systolic: systolic.clamp(55.0, 230.0),
            diastolic: diastolic.clamp(25.0, 130.0).min(systolic.clamp(55.0, 230.0) - 15.0),
            temp_c: (b.temp_c + 0.35 * z.temperature + 0.25 * day + 0.4 * acuity).clamp(33.0, 41.5),
            cvp: (b.cvp + 2.5 * z.pressure + 2.0 * acuity).clamp(-2.0, 28.0),
            gcs: (b.gcs + 1.2 * z.neuro - 2.5 * acuity).clamp(3.0, 15.0),
            fio2: (30.0 - 12.0 * z.oxygenation + 25.0 * acuity).clamp(21.0, 100.0),
            glucose: (b.glucose + 30.0 * z.glucose + 20.0 * acuity).clamp(40.0, 500.0),
        }
    }
}

impl Latent {
    fn components_mut(&mut self) -> [&mut f64; 8] {
        [
            &mut self.pressure,
            &mut self.pulse_pressure,
            &mut self.drive,
            &mut self.breathing,
            &mut self.temperature,
            &mut self.oxygenation,
            &mut self.neuro,
            &mut self.glucose,
        ]
    }
}

/// Slowly varying blood chemistry and counts of one admission, read at each blood draw. Each
/// component is an AR(1) process in continuous time: its correlation between two draws decays
/// with the hours between them, so labs a day apart stay alike.
#[derive(Clone, Debug)]
pub(super) struct Chemistry {
    z: [f64; LAB_COMPONENTS],
    creatinine: f64,
    urea: f64,
    hemoglobin: f64,
    wbc: f64,
    platelets: f64,
    mcv: f64,
    rdw: f64,
    last: Option<Timestamp>,
}

const LAB_COMPONENTS: usize = 14;

/// The true lab values at one draw; [`super::labs`] rounds them to each test's precision.
#[derive(Clone, Copy, Debug)]
pub(super) struct LabValues {
    pub sodium: f64,
    pub potassium: f64,
    pub chloride: f64,
    pub bicarbonate: f64,
    pub urea: f64,
    pub creatinine: f64,
    pub glucose: f64,
    pub calcium: f64,
    pub magnesium: f64,
    pub phosphate: f64,
    pub hemoglobin: f64,
    pub hematocrit: f64,
    pub mcv: f64,
    pub rdw: f64,
    pub wbc: f64,
    pub platelets: f64,
    pub ph: f64,
    pub po2: f64,
    pub pco2: f64,
    pub lactate: f64,
}

impl Chemistry {
    pub fn new(rng: &mut ChaCha8Rng) -> Self {
        let lognormal =
            |rng: &mut ChaCha8Rng, median: f64, sigma: f64| median * (sigma * normal(rng)).exp();
        Chemistry {
            z: std::array::from_fn(|_| normal(rng)),
            creatinine: lognormal(rng, 1.0, 0.45),
            urea: lognormal(rng, 20.0, 0.45),
            hemoglobin: 11.0 + 1.6 * normal(rng),
            wbc: lognormal(rng, 9.5, 0.35),
            platelets: lognormal(rng, 220.0, 0.35),
            mcv: 90.0 + 5.0 * normal(rng),
            rdw: 14.5 + 1.3 * normal(rng),
            last: None,
        }
    }

    /// The values at time `t` (draws must come in time order), with `days_in` days since
    /// admission: hospital anaemia lowers haemoglobin by about 0.1 g/dL a day.
    pub fn draw(
        &mut self,
        rng: &mut ChaCha8Rng,
        t: Timestamp,
        days_in: f64,
        acuity: f64,
    ) -> LabValues {
        if let Some(last) = self.last {
            let phi = (-((t - last) as f64) / (48 * HOUR) as f64).exp();
            for z in &mut self.z {
                *z = ar1(*z, phi, normal(rng));
            }
        }
        self.last = Some(t);
        let z = &self.z;
        let sodium = 139.0 + 2.5 * z[0];
        let bicarbonate = (25.0 + 2.5 * z[1] - 6.0 * acuity).clamp(8.0, 40.0);
        let creatinine = self.creatinine * (0.12 * z[2] + 0.5 * acuity).exp();
        let hemoglobin = (self.hemoglobin + 0.5 * z[3] - (0.1 * days_in).min(2.0)).clamp(5.0, 18.0);
        LabValues {
            sodium,
            potassium: (4.1 + 0.35 * z[4] + 0.15 * (creatinine - 1.0) + 0.5 * acuity)
                .clamp(2.5, 7.5),
            chloride: 103.0 + 0.8 * (sodium - 139.0) + 2.0 * z[5],
            bicarbonate,
            urea: self.urea * (0.15 * z[2] + 0.4 * acuity).exp(),
            creatinine,
            glucose: (130.0 + 30.0 * z[6] + 15.0 * acuity).clamp(40.0, 600.0),
            calcium: 8.6 + 0.35 * z[7],
            magnesium: 2.0 + 0.2 * z[8],
            phosphate: (3.4 + 0.5 * z[9] + 0.9 * acuity).max(0.8),
            hemoglobin,
            hematocrit: 2.95 * hemoglobin + 0.6 * z[10],
            mcv: self.mcv + 0.8 * z[11],
            rdw: self.rdw + 0.4 * z[12],
            wbc: self.wbc * (0.15 * z[13] + 0.45 * acuity).exp(),
            platelets: self.platelets * (0.12 * z[13] - 0.45 * acuity).exp(),
            ph: (7.40 + 0.015 * (bicarbonate - 25.0) + 0.02 * normal(rng) - 0.06 * acuity)
                .clamp(6.8, 7.7),
            po2: (95.0 + 20.0 * normal(rng) - 15.0 * acuity).max(35.0),
            pco2: (40.0 + 4.0 * normal(rng) - 0.5 * (25.0 - bicarbonate)).max(15.0),
            lactate: 1.3 * (0.3 * normal(rng) + 0.8 * acuity).exp(),
        }
    }
}
