//! The item sets MedLens samples: which `ITEMID`s become rows of the grid, and in what order.
//!
//! The order matters: it is the order of the grid's first axis, so a set is a slice, not a set.

use std::fmt;
use std::str::FromStr;

/// MedLens's 56 numerical chart items (CareVue and MetaVision ids mixed, as in the paper).
pub const MEDLENS_CHART: [u32; 56] = [
    211, 742, 646, 618, 220045, 220210, 220277, 51, 8368, 52, 5815, 8549, 5820, 8554, 5819, 8553,
    834, 3450, 8518, 3603, 581, 3609, 8532, 455, 8441, 456, 5817, 8551, 220181, 220179, 220180,
    113, 220052, 220050, 220051, 5813, 8547, 184, 723, 454, 198, 678, 677, 8537, 3420, 5814, 8548,
    190, 220739, 223900, 223901, 223835, 3655, 223761, 224641, 220074,
];

/// MedLens's 21 numerical lab items.
pub const MEDLENS_LAB: [u32; 21] = [
    51221, 50971, 50983, 50912, 50902, 51006, 50882, 51265, 50868, 51301, 51222, 50931, 51249,
    51279, 51248, 51250, 51277, 50960, 50893, 50970, 50820,
];

/// The 5 items most correlated with mortality, used by MedLens's imputation study.
pub const MEDLENS_TOP5: [u32; 5] = [198, 223901, 220739, 454, 184];

/// A named item set accepted by `--item-set`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemSet {
    /// The 77 numerical items: 56 chart items then 21 lab items.
    MedlensNumerical,
    /// The 5 GCS items of MedLens's imputation study.
    MedlensTop5,
}

impl ItemSet {
    /// The item ids of this set, in grid order.
    pub fn item_ids(self) -> Vec<u32> {
        match self {
            ItemSet::MedlensNumerical => {
                MEDLENS_CHART.iter().chain(&MEDLENS_LAB).copied().collect()
            }
            ItemSet::MedlensTop5 => MEDLENS_TOP5.to_vec(),
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ItemSet::MedlensNumerical => "medlens-numerical",
            ItemSet::MedlensTop5 => "medlens-top5",
        }
    }
}

impl fmt::Display for ItemSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ItemSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "medlens-numerical" => Ok(ItemSet::MedlensNumerical),
            "medlens-top5" => Ok(ItemSet::MedlensTop5),
            other => {
                Err(format!("unknown item set '{other}' (known: medlens-numerical, medlens-top5)"))
            }
        }
    }
}

/// Parses an explicit `--items 211,220045,...` list. Duplicates are refused: each item is one
/// block of the grid, and a repeated id would silently split its events between nothing and one.
pub fn parse_item_list(list: &str) -> Result<Vec<u32>, String> {
    let mut ids = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id: u32 = part
            .parse()
            .map_err(|_| format!("'{part}' is not an item id (a non-negative integer)"))?;
        if ids.contains(&id) {
            return Err(format!("item {id} is listed twice"));
        }
        ids.push(id);
    }
    if ids.is_empty() {
        return Err("the item list is empty".to_string());
    }
    Ok(ids)
}

/// Maps an `ITEMID` to its row in the grid in O(1), once per event row: a dense table for ids
/// below [`DENSE_IDS`] (every MIMIC-III and MIMIC-IV item id is), a hash map for any above, so
/// that a large id given on the command line does not cost a table of its size.
///
/// The table holds a row plus one, zero for ids not selected: a table of zeros is allocated
/// zeroed by the kernel, page by page as lookups first touch it, where a table filled with a
/// marker cost 0.2 ms of page faults and writes on every run (MetaVision ids reach 230,000).
#[derive(Clone, Debug)]
pub struct ItemIndex {
    ids: Vec<u32>,
    slot_of_id: Vec<u16>,
    beyond: rustc_hash::FxHashMap<u32, u16>,
}

/// Ids below this are looked up in the dense table (at most 8 MiB of it).
const DENSE_IDS: u32 = 1 << 22;

impl ItemIndex {
    /// Builds the index; `ids` must be free of duplicates and fewer than 65,535.
    pub fn new(ids: Vec<u32>) -> Self {
        assert!(ids.len() < usize::from(u16::MAX), "too many items");
        let dense_max = ids.iter().copied().filter(|&id| id < DENSE_IDS).max();
        let mut slot_of_id = vec![0u16; dense_max.map_or(0, |m| m as usize + 1)];
        let mut beyond = rustc_hash::FxHashMap::default();
        for (slot, &id) in ids.iter().enumerate() {
            if id < DENSE_IDS {
                slot_of_id[id as usize] = slot as u16 + 1;
            } else {
                beyond.insert(id, slot as u16);
            }
        }
        ItemIndex { ids, slot_of_id, beyond }
    }

    /// The grid row of `item_id`, or `None` when the item is not selected.
    #[inline]
    pub fn slot(&self, item_id: u64) -> Option<usize> {
        let id = usize::try_from(item_id).ok()?;
        match self.slot_of_id.get(id) {
            Some(&s) if s != 0 => Some(usize::from(s) - 1),
            Some(_) => None,
            None if self.beyond.is_empty() => None,
            None => self.beyond.get(&u32::try_from(item_id).ok()?).map(|&s| usize::from(s)),
        }
    }

    /// The selected ids in grid order.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// How many items the grid has.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether no item is selected.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numerical_set_has_77_distinct_items() {
        let ids = ItemSet::MedlensNumerical.item_ids();
        assert_eq!(ids.len(), 77);
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 77, "duplicate ids in the MedLens set");
    }

    #[test]
    fn top5_items_are_part_of_the_numerical_set() {
        let all = ItemSet::MedlensNumerical.item_ids();
        for id in MEDLENS_TOP5 {
            assert!(all.contains(&id), "{id}");
        }
    }

    #[test]
    fn index_maps_ids_to_slots_in_order() {
        let index = ItemIndex::new(vec![220045, 211, 51]);
        assert_eq!(index.slot(211), Some(1));
        assert_eq!(index.slot(220045), Some(0));
        assert_eq!(index.slot(51), Some(2));
        assert_eq!(index.slot(52), None);
        assert_eq!(index.slot(10_000_000), None);
    }

    #[test]
    fn large_ids_are_found_without_a_table_of_their_size() {
        let index = ItemIndex::new(vec![u32::MAX, 211, 99_999_999]);
        assert_eq!(index.slot(u64::from(u32::MAX)), Some(0));
        assert_eq!(index.slot(211), Some(1));
        assert_eq!(index.slot(99_999_999), Some(2));
        assert_eq!(index.slot(99_999_998), None);
        assert_eq!(index.slot(u64::MAX), None);
        assert_eq!(index.slot_of_id.len(), 212, "the dense table stops at the largest small id");
    }

    #[test]
    fn item_list_parsing_rejects_duplicates_and_garbage() {
        assert_eq!(parse_item_list("211, 220045").unwrap(), vec![211, 220045]);
        assert!(parse_item_list("211,211").is_err());
        assert!(parse_item_list("211,abc").is_err());
        assert!(parse_item_list("").is_err());
    }
}
