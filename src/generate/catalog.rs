//! Which `ITEMID`s each bedside system charts, with MIMIC's units and words.
//!
//! Ids are the real ones, so exports exercise the engine's item selection as MIMIC does: CareVue
//! ids are below 220000, MetaVision ids above. All 56 of MedLens's chart items appear. A few
//! CareVue ids in MedLens's list have no well-documented meaning (3450/8518, 3609/8532, 8537);
//! they are charted as rarely-used secondary blood pressure and temperature sites. Many items
//! MedLens does not select are charted too (rhythm, ectopy, devices, alarms, ventilator
//! settings, glucose), about a third of all rows, as in real CHARTEVENTS.

use super::records::Item;

const fn item(id: u32, unit: &'static str) -> Item {
    Item { id, unit }
}

/// An item charted as one of a few words, the earlier entries repeated to make them common.
#[derive(Debug)]
pub(super) struct TextItem {
    pub item: Item,
    pub words: &'static [&'static str],
}

/// What an alarm pair guards; stays without the line get no alarms for it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Alarm {
    HeartRate,
    Saturation,
    Breathing,
    CuffPressure,
    ArterialPressure,
    VenousPressure,
}

#[derive(Debug)]
pub(super) struct AlarmPair {
    pub guards: Alarm,
    pub low: Item,
    pub high: Item,
}

/// A quantity charted at a rarely used site (CareVue only), read off the same patient.
#[derive(Clone, Copy, Debug)]
pub(super) enum Extra {
    ArterialSaturation,
    CuffSystolic,
    CuffDiastolic,
    RespRate,
    CoreTempC,
    SkinTempC,
}

/// Rows charted together at a rare site, with their chance per ICU hour.
#[derive(Debug)]
pub(super) struct Occasional {
    pub per_hour: f64,
    pub rows: &'static [(Item, Extra)],
}

/// GCS components' words by score (index 0 is score 1).
#[derive(Debug)]
pub(super) struct GcsWords {
    pub eye: [&'static str; 4],
    pub verbal: [&'static str; 5],
    pub motor: [&'static str; 6],
}

/// The words charted beside GCS scores, the same in CareVue and MetaVision.
const GCS_WORDS: GcsWords = GcsWords {
    eye: ["No Response", "To Pain", "To Speech", "Spontaneously"],
    verbal: [
        "No Response",
        "Incomprehensible sounds",
        "Inappropriate Words",
        "Confused",
        "Oriented",
    ],
    motor: [
        "No response",
        "Abnormal extension",
        "Abnormal Flexion",
        "Flex-withdraws",
        "Localizes Pain",
        "Obeys Commands",
    ],
};

/// Everything one bedside system charts.
#[derive(Debug)]
pub(super) struct Catalog {
    pub heart_rate: Item,
    pub resp_rate: Item,
    pub spo2: Item,
    /// Systolic, diastolic, mean.
    pub arterial: [Item; 3],
    pub cuff: [Item; 3],
    pub cvp: Item,
    pub temp_f: Item,
    /// CareVue's Temperature C (calc), computed from the Fahrenheit entry.
    pub temp_c_calc: Option<Item>,
    pub gcs_eye: Item,
    pub gcs_verbal: Item,
    pub gcs_motor: Item,
    /// CareVue charts the total too; MetaVision leaves it to be summed.
    pub gcs_total: Option<Item>,
    pub gcs_words: GcsWords,
    /// Inspired O2 in percent.
    pub fio2: Item,
    /// CareVue's FiO2 Set, a fraction.
    pub fio2_fraction: Option<Item>,
    pub peep: Item,
    pub tidal_volume: Item,
    pub glucose: Item,
    pub weight_kg: Item,
    pub weight_lb: Option<Item>,
    /// A flag charted as 1 whenever alarms are reviewed (CareVue calprevflg, MetaVision Alarms On).
    pub alarms_on: Item,
    pub alarms: &'static [AlarmPair],
    pub rhythm: TextItem,
    pub ectopy: TextItem,
    /// Oxygen flow through a nasal cannula, in litres per minute.
    pub o2_flow: Item,
    pub assessment: &'static [TextItem],
    pub daily: &'static [TextItem],
    pub occasional: &'static [Occasional],
}

const BPM: &str = "BPM";
const MMHG: &str = "mmHg";

pub(super) static CAREVUE: Catalog = Catalog {
    heart_rate: item(211, BPM),
    resp_rate: item(618, BPM),
    spo2: item(646, "%"),
    arterial: [item(51, MMHG), item(8368, MMHG), item(52, MMHG)],
    cuff: [item(455, MMHG), item(8441, MMHG), item(456, MMHG)],
    cvp: item(113, MMHG),
    temp_f: item(678, "Deg. F"),
    temp_c_calc: Some(item(677, "Deg. C")),
    gcs_eye: item(184, ""),
    gcs_verbal: item(723, ""),
    gcs_motor: item(454, ""),
    gcs_total: Some(item(198, "points")),
    gcs_words: GCS_WORDS,
    fio2: item(3420, "%"),
    fio2_fraction: Some(item(190, "")),
    peep: item(506, "cmH2O"),
    tidal_volume: item(683, "ml"),
    glucose: item(807, ""),
    weight_kg: item(763, "kg"),
    weight_lb: Some(item(581, "lb")),
    alarms_on: item(742, ""),
    alarms: &[
        AlarmPair { guards: Alarm::HeartRate, low: item(5815, BPM), high: item(8549, BPM) },
        AlarmPair { guards: Alarm::Saturation, low: item(5820, "%"), high: item(8554, "%") },
        AlarmPair { guards: Alarm::Breathing, low: item(5819, BPM), high: item(8553, BPM) },
        AlarmPair { guards: Alarm::CuffPressure, low: item(5817, MMHG), high: item(8551, MMHG) },
        AlarmPair {
            guards: Alarm::ArterialPressure,
            low: item(5813, MMHG),
            high: item(8547, MMHG),
        },
        AlarmPair { guards: Alarm::VenousPressure, low: item(5814, MMHG), high: item(8548, MMHG) },
    ],
    rhythm: TextItem {
        item: item(212, ""),
        words: &[
            "Sinus Rhythm",
            "Sinus Rhythm",
            "Sinus Tachycardia",
            "Atrial Fib",
            "Sinus Bradycardia",
            "1st Deg AV Block",
        ],
    },
    ectopy: TextItem { item: item(161, ""), words: &["None", "None", "None", "PVC's", "PAC's"] },
    o2_flow: item(470, "LPM"),
    assessment: &[
        TextItem {
            item: item(159, ""),
            words: &["None", "None", "Rare", "Occasional", "Frequent"],
        },
        TextItem {
            item: item(432, ""),
            words: &[
                "Alert",
                "Alert",
                "Arouse to Voice",
                "Arouse to Pain",
                "Sleeping",
                "Unresponsive",
            ],
        },
        TextItem {
            item: item(467, ""),
            words: &[
                "Nasal Cannula",
                "Nasal Cannula",
                "None",
                "Ventilator",
                "Face Tent",
                "Other/Remarks",
            ],
        },
        TextItem {
            item: item(479, ""),
            words: &[
                "Oriented x 3",
                "Oriented x 3",
                "Oriented x 2",
                "Oriented x 1",
                "Unable to Assess",
            ],
        },
        TextItem { item: item(80, ""), words: &["Present", "Present", "Hypoactive", "Absent"] },
        TextItem { item: item(617, ""), words: &["Regular", "Regular", "Irregular", "Labored"] },
        TextItem { item: item(674, ""), words: &["Oral", "Oral", "Axillary", "Rectal", "Blood"] },
        TextItem { item: item(643, ""), words: &["Normal", "Normal", "Pale", "Jaundiced"] },
    ],
    daily: &[
        TextItem {
            item: item(128, ""),
            words: &["Full Code", "Full Code", "Full Code", "Do Not Resuscita", "Comfort Measures"],
        },
        TextItem { item: item(1125, ""), words: &["MICU", "MICU", "SICU", "CCU", "CSRU", "TSICU"] },
    ],
    occasional: &[
        Occasional { per_hour: 0.05, rows: &[(item(834, "%"), Extra::ArterialSaturation)] },
        Occasional {
            per_hour: 0.01,
            rows: &[
                (item(3450, MMHG), Extra::CuffSystolic),
                (item(8518, MMHG), Extra::CuffDiastolic),
            ],
        },
        Occasional {
            per_hour: 0.01,
            rows: &[
                (item(3609, MMHG), Extra::CuffSystolic),
                (item(8532, MMHG), Extra::CuffDiastolic),
            ],
        },
        Occasional { per_hour: 0.01, rows: &[(item(3603, BPM), Extra::RespRate)] },
        Occasional { per_hour: 0.015, rows: &[(item(8537, "Deg. C"), Extra::CoreTempC)] },
        Occasional { per_hour: 0.04, rows: &[(item(3655, "Deg. C"), Extra::SkinTempC)] },
    ],
};

pub(super) static METAVISION: Catalog = Catalog {
    heart_rate: item(220045, "bpm"),
    resp_rate: item(220210, "insp/min"),
    spo2: item(220277, "%"),
    arterial: [item(220050, MMHG), item(220051, MMHG), item(220052, MMHG)],
    cuff: [item(220179, MMHG), item(220180, MMHG), item(220181, MMHG)],
    cvp: item(220074, MMHG),
    temp_f: item(223761, "°F"),
    temp_c_calc: None,
    gcs_eye: item(220739, ""),
    gcs_verbal: item(223900, ""),
    gcs_motor: item(223901, ""),
    gcs_total: None,
    gcs_words: GCS_WORDS,
    fio2: item(223835, ""),
    fio2_fraction: None,
    peep: item(220339, "cmH2O"),
    tidal_volume: item(224684, "mL"),
    glucose: item(225664, "mg/dL"),
    weight_kg: item(224639, "kg"),
    weight_lb: None,
    alarms_on: item(224641, ""),
    alarms: &[
        AlarmPair { guards: Alarm::HeartRate, low: item(220047, "bpm"), high: item(220046, "bpm") },
        AlarmPair { guards: Alarm::Saturation, low: item(223770, "%"), high: item(223769, "%") },
        AlarmPair {
            guards: Alarm::Breathing,
            low: item(224162, "insp/min"),
            high: item(224161, "insp/min"),
        },
        AlarmPair {
            guards: Alarm::CuffPressure,
            low: item(223752, MMHG),
            high: item(223751, MMHG),
        },
        AlarmPair {
            guards: Alarm::ArterialPressure,
            low: item(220056, MMHG),
            high: item(220058, MMHG),
        },
    ],
    rhythm: TextItem {
        item: item(220048, ""),
        words: &[
            "SR (Sinus Rhythm)",
            "SR (Sinus Rhythm)",
            "ST (Sinus Tachycardia)",
            "AF (Atrial Fibrillation)",
            "SB (Sinus Bradycardia)",
            "1st AV (First degree AV Block)",
        ],
    },
    ectopy: TextItem { item: item(224650, ""), words: &["None", "None", "None", "PVCs", "PACs"] },
    o2_flow: item(223834, "L/min"),
    assessment: &[
        TextItem {
            item: item(228096, ""),
            words: &[
                "0  Alert and calm",
                "0  Alert and calm",
                "-1 Awakens to voice (eyes open/contact) > 10 sec",
                "-2 Light sedation, briefly awakens to voice (eyes open/contact) < 10 sec",
                "-3 Moderate sedation, movement or eye opening; No eye contact",
                "+1 Anxious, apprehensive, but not aggressive",
            ],
        },
        TextItem {
            item: item(223999, ""),
            words: &[
                "Nasal cannula",
                "Nasal cannula",
                "None",
                "Endotracheal tube",
                "Face tent",
                "High flow neb",
            ],
        },
        TextItem { item: item(223781, ""), words: &["No", "No", "Yes"] },
        TextItem {
            item: item(224080, ""),
            words: &["30 Degrees", "30 Degrees", "45 Degrees", "15 Degrees"],
        },
        TextItem { item: item(224084, ""), words: &["Bed", "Bed", "Chair", "Ambulate"] },
        TextItem {
            item: item(224093, ""),
            words: &["Left Side", "Right Side", "Supine", "Supine"],
        },
    ],
    daily: &[
        TextItem {
            item: item(223758, ""),
            words: &["Full code", "Full code", "DNR / DNI", "Comfort care (CMO, Comfort Measures)"],
        },
        TextItem {
            item: item(227969, ""),
            words: &[
                "Bed locked and in lowest position, Siderails up x2, Call light within reach",
                "Siderails up x2",
                "Bed alarm on, Bed locked and in lowest position",
            ],
        },
    ],
    occasional: &[],
};

/// MetaVision's serum glucose, charted now and then in place of a finger stick.
pub(super) const METAVISION_SERUM_GLUCOSE: Item = item(220621, "mg/dL");
