//! One task's data to a worker over a pipe vs through shared memory, against a memcpy + read of the same bytes: the figures behind `medimpute bench ipc`, under criterion's statistics.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use medimpute::bench::ipc::{Buffers, Transports};
use std::time::Duration;

fn bench_ipc(c: &mut Criterion) {
    // Benches have no `worker` subcommand of their own: workers run the real binary.
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    let mut transports = Transports::start().expect("start the worker pools");
    for (label, len) in [("4KiB", 4 << 10), ("1MiB", 1 << 20), ("64MiB", 64 << 20)] {
        let mut buffers = Buffers::new(len).expect("allocate the payload");
        let mut group = c.benchmark_group(format!("ipc_{label}"));
        group
            .throughput(Throughput::Bytes(len as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2));
        group.bench_function("memcpy", |b| b.iter(|| buffers.memcpy()));
        group.bench_function("pipe", |b| b.iter(|| transports.pipe(&buffers).expect("pipe")));
        group.bench_function("shm", |b| b.iter(|| transports.shm(&buffers).expect("shm")));
        group.finish();
    }
}

criterion_group!(benches, bench_ipc);
criterion_main!(benches);
