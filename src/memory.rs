//! How much memory this process may still fill: the machine's, its cgroup's and its own limit;
//! and asking the kernel for pages ahead of their reads ([`will_need`]).
//!
//! One choice depends on it: whether `run` keeps the grid it samples in memory until the
//! imputation has read it, or in a scratch file that the kernel can page out (an export whose
//! grid is larger than RAM, see [`crate::grid::SampledGridHome`]). The machine's
//! `MemAvailable` alone is the wrong answer inside a container or a batch job's cgroup, which may
//! allow far less than the machine has; there, going over means the OOM killer (`SIGKILL`,
//! nothing to catch, no message). So the room is the least of:
//!
//! * the machine's `MemAvailable` (`/proc/meminfo`): free memory plus what the kernel can
//!   reclaim without swapping, page cache included;
//! * every cgroup limit above this process (v1 `hierarchical_memory_limit`, v2 `memory.max`
//!   of its group and each ancestor), less what the group holds that cannot be reclaimed
//!   without swap (anonymous and shared memory; page cache is reclaimable, so it does not
//!   count against the room);
//! * `RLIMIT_DATA` (`ulimit -d`, which some batch systems set), less the process's data
//!   segment (`VmData`): it bounds private writable mappings, which a grid in memory is.
//!
//! Linux only: elsewhere nothing is known and [`room`] says so.

use std::path::{Path, PathBuf};

/// What bounds the memory this process may fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// The machine's available memory.
    Machine,
    /// A memory cgroup's limit.
    Cgroup,
    /// The process's data-segment limit (`RLIMIT_DATA`).
    DataLimit,
}

impl Bound {
    pub fn describe(self) -> &'static str {
        match self {
            Bound::Machine => "the machine's available memory",
            Bound::Cgroup => "its cgroup's memory limit",
            Bound::DataLimit => "its data-segment limit (ulimit -d)",
        }
    }
}

/// Bytes this process may still fill, and what bounds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    pub bytes: u64,
    pub bound: Bound,
}

impl Room {
    /// The tighter of two rooms.
    fn min(self, other: Room) -> Room {
        if other.bytes < self.bytes {
            other
        } else {
            self
        }
    }
}

/// The room this process has now, or `None` where nothing can be read (not Linux).
pub fn room() -> Option<Room> {
    let meminfo = read("/proc/meminfo")?;
    let bytes = kib_field(&meminfo, "MemAvailable:")?;
    let mut room = Room { bytes, bound: Bound::Machine };
    // Limits at or above the machine's memory limit nothing (v1 writes a value near `i64::MAX`).
    let total = kib_field(&meminfo, "MemTotal:").unwrap_or(u64::MAX);
    if let Some(bytes) = cgroup_room(total) {
        room = room.min(Room { bytes, bound: Bound::Cgroup });
    }
    if let Some(bytes) = data_limit_room() {
        room = room.min(Room { bytes, bound: Bound::DataLimit });
    }
    Some(room)
}

/// Tells the kernel that `values` will be read soon. Where they are a mapped file whose pages
/// are not in memory (a grid larger than the page cache, `run --sampled-grid disk`), the reads
/// of several stretches advised together are in flight at once, instead of a fault and a
/// synchronous read of a few pages at a time each; where the pages are present it does
/// nothing, but walks them: about 60 ms per pass over a cached 1.8 GB grid. Measured in an
/// 800 MB cgroup on that grid: `auto`'s imputation profile, mostly the partner table's pass,
/// took 96.6 s without it and 2.2 s with it (docs/RESULTS.md, section 6).
pub fn will_need(values: &[f32]) {
    const PAGE: usize = 4096;
    let start = values.as_ptr() as usize;
    let aligned = start - start % PAGE;
    let len = start + std::mem::size_of_val(values) - aligned;
    // SAFETY: advice on pages of a live borrowed slice (rounded down to its first page, which
    // the same mapping holds); WILLNEED only starts reads, it changes no contents.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_WILLNEED);
    }
}

/// `bytes` for people: `3.9 MB`, `1.81 GB`.
pub fn human(bytes: u64) -> String {
    if bytes < 1_000_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.2} GB", bytes as f64 / 1e9)
    }
}

fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// A `Name:   123 kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kib_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kib * 1024)
}

/// A `name value` line of a cgroup's `memory.stat`.
fn stat_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

/// The room left under every memory cgroup limit above this process, v1 or v2; v1 limits of
/// `total` bytes (the machine's memory) or more are none.
fn cgroup_room(total: u64) -> Option<u64> {
    let membership = read("/proc/self/cgroup")?;
    let mounts = read("/proc/self/mountinfo")?;
    let v1 =
        cgroup_dir(&membership, &mounts, Hierarchy::V1Memory).and_then(|dir| v1_room(&dir, total));
    let v2 = cgroup_dir(&membership, &mounts, Hierarchy::V2).and_then(|dir| v2_room(&dir));
    match (v1, v2) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Hierarchy {
    V1Memory,
    V2,
}

/// The directory of this process's cgroup in `hierarchy`, from `/proc/self/cgroup`
/// (`membership`) and `/proc/self/mountinfo` (`mounts`: where that hierarchy is mounted, and
/// which of its groups the mount shows as its root).
fn cgroup_dir(membership: &str, mounts: &str, hierarchy: Hierarchy) -> Option<PathBuf> {
    let group = membership.lines().find_map(|line| {
        let mut fields = line.splitn(3, ':');
        let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
        let ours = match hierarchy {
            Hierarchy::V2 => id == "0" && controllers.is_empty(),
            Hierarchy::V1Memory => controllers.split(',').any(|c| c == "memory"),
        };
        ours.then_some(path)
    })?;
    mounts.lines().find_map(|line| {
        // `id parent major:minor root mount-point options [optional...] - type source super`
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let (root, point) = (*left.get(3)?, *left.get(4)?);
        let fs = *right.first()?;
        let ours = match hierarchy {
            Hierarchy::V2 => fs == "cgroup2",
            Hierarchy::V1Memory => {
                fs == "cgroup" && right.get(2)?.split(',').any(|option| option == "memory")
            }
        };
        if !ours {
            return None;
        }
        let relative = Path::new(group).strip_prefix(root).ok()?;
        Some(Path::new(point).join(relative))
    })
}

/// v1: the group's effective limit (its own or an ancestor's, `hierarchical_memory_limit`)
/// less its anonymous and shared memory (`total_rss`, `total_shmem`). `None` when unlimited: a
/// limit of `total` bytes (the machine's memory) or more.
fn v1_room(dir: &Path, total: u64) -> Option<u64> {
    let stat = read(dir.join("memory.stat"))?;
    let limit = stat_field(&stat, "hierarchical_memory_limit")?;
    if limit >= total {
        return None;
    }
    let held =
        stat_field(&stat, "total_rss").unwrap_or(0) + stat_field(&stat, "total_shmem").unwrap_or(0);
    Some(limit.saturating_sub(held))
}

/// v2: the least room under `memory.max` of the group and each ancestor, less each one's
/// anonymous and shared memory (`anon`, `shmem` of its `memory.stat`). `None` when no group
/// sets a limit.
fn v2_room(dir: &Path) -> Option<u64> {
    dir.ancestors()
        .map_while(|group| Some((read(group.join("memory.max"))?, group)))
        .filter_map(|(max, group)| {
            let limit: u64 = max.trim().parse().ok()?;
            let stat = read(group.join("memory.stat")).unwrap_or_default();
            let held =
                stat_field(&stat, "anon").unwrap_or(0) + stat_field(&stat, "shmem").unwrap_or(0);
            Some(limit.saturating_sub(held))
        })
        .min()
}

/// `RLIMIT_DATA`'s soft limit less the data segment already mapped, when a limit is set.
fn data_limit_room() -> Option<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct it is given, nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_DATA, &mut limit) } != 0
        || limit.rlim_cur == libc::RLIM_INFINITY
    {
        return None;
    }
    let used = read("/proc/self/status").and_then(|s| kib_field(&s, "VmData:")).unwrap_or(0);
    Some(limit.rlim_cur.saturating_sub(used))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn finds_the_process_group_in_each_hierarchy() {
        let membership = "4:memory:/batch/job7\n3:cpuset:/\n0::/user.slice/job7\n";
        assert_eq!(
            cgroup_dir(membership, MOUNTS, Hierarchy::V1Memory),
            Some(PathBuf::from("/sys/fs/cgroup/memory/batch/job7"))
        );
        assert_eq!(
            cgroup_dir(membership, MOUNTS, Hierarchy::V2),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice/job7"))
        );
        // A v2-only machine has no memory controller line; a v1-only one no `0::` line.
        assert_eq!(cgroup_dir("0::/a\n", MOUNTS, Hierarchy::V1Memory), None);
        assert_eq!(cgroup_dir("4:memory:/a\n", MOUNTS, Hierarchy::V2), None);
    }

    #[test]
    fn a_mount_rooted_inside_the_hierarchy_is_followed() {
        // In a container the mount's root is the container's group: strip it.
        let mounts = "50 40 0:30 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup_dir("0::/docker/abc/inner\n", mounts, Hierarchy::V2),
            Some(PathBuf::from("/sys/fs/cgroup/inner"))
        );
    }

    #[test]
    fn fields_are_read_in_bytes() {
        let meminfo = "MemTotal:       24683784 kB\nMemAvailable:   23770244 kB\n";
        assert_eq!(kib_field(meminfo, "MemAvailable:"), Some(23770244 * 1024));
        assert_eq!(kib_field(meminfo, "SwapTotal:"), None);
        let stat = "rss 100\ntotal_rss 2000\ntotal_rss_huge 5\n";
        assert_eq!(stat_field(stat, "total_rss"), Some(2000));
        assert_eq!(stat_field(stat, "rss"), Some(100));
        assert_eq!(stat_field(stat, "total_shmem"), None);
    }

    /// A machine of 24 GB, as `MemTotal` would say.
    const MACHINE: u64 = 24_000_000_000;

    #[test]
    fn v1_room_is_the_limit_less_what_cannot_be_reclaimed() {
        let dir = tempfile::tempdir().unwrap();
        let stat = "cache 900000000\nhierarchical_memory_limit 1000000000\ntotal_cache 900000000\n\
                    total_rss 300000000\ntotal_shmem 100000000\n";
        std::fs::write(dir.path().join("memory.stat"), stat).unwrap();
        // Page cache (`total_cache`) is reclaimable: it does not count.
        assert_eq!(v1_room(dir.path(), MACHINE), Some(600_000_000));
        let unlimited = "hierarchical_memory_limit 9223372036854771712\ntotal_rss 1\n";
        std::fs::write(dir.path().join("memory.stat"), unlimited).unwrap();
        assert_eq!(v1_room(dir.path(), MACHINE), None);
    }

    #[test]
    fn v2_room_is_the_tightest_ancestor() {
        let top = tempfile::tempdir().unwrap();
        let job = top.path().join("job");
        let step = job.join("step");
        std::fs::create_dir_all(&step).unwrap();
        for (dir, max, anon) in [(top.path(), "max", 0), (&job, "1000", 900), (&step, "5000", 10)] {
            std::fs::write(dir.join("memory.max"), format!("{max}\n")).unwrap();
            std::fs::write(dir.join("memory.stat"), format!("anon {anon}\nshmem 0\nfile 7\n"))
                .unwrap();
        }
        // The step allows 4990 more, but its parent only 100.
        assert_eq!(v2_room(&step), Some(100));
        std::fs::write(job.join("memory.max"), "max\n").unwrap();
        assert_eq!(v2_room(&step), Some(4990));
    }

    #[test]
    fn this_process_has_some_room() {
        // Every Linux machine has /proc/meminfo; the room is positive and at most the machine's.
        let room = room().expect("Linux reports MemAvailable");
        let meminfo = read("/proc/meminfo").unwrap();
        let total = kib_field(&meminfo, "MemTotal:").unwrap();
        assert!(room.bytes > 0 && room.bytes <= total, "{room:?} of {total}");
    }
}
