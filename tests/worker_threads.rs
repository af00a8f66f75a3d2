//! A worker process is one unit of the coordinator's parallelism: its tasks run on one thread.
//! (A file of its own: it sets an environment variable that the other tests' runs must not see.)

use medimpute::backend::{Payload, ProcessPool, RemoteTask, Transport};
use medimpute::bench::ipc::TransferJob;
use medimpute::jobs::JobSpec;

#[test]
fn a_worker_runs_its_tasks_on_one_thread() {
    // Were a worker not confined to one thread, a task's parallel loops would run on rayon's
    // global pool of the worker process: 3 threads here (RAYON_NUM_THREADS, inherited by the
    // workers) whatever the machine's cores, so this fails anywhere if the confinement goes.
    std::env::set_var("RAYON_NUM_THREADS", "3");
    std::env::set_var("MEDIMPUTE_WORKER_EXE", env!("CARGO_BIN_EXE_medimpute"));
    for transport in [Transport::Pipe, Transport::Shm] {
        let mut pool = ProcessPool::start(2, transport, false).unwrap();
        pool.setup(serde_json::json!(JobSpec::Transfer(TransferJob {}))).unwrap();
        let task = |affinity| RemoteTask {
            spec: serde_json::Value::Null,
            inputs: Vec::new(),
            scratch: vec![("data".to_string(), Payload::Bytes(b"12345678"))],
            output: None,
            affinity,
        };
        let mut threads = Vec::new();
        pool.run(&[task(0), task(1), task(2), task(3)], |_, done| {
            threads.push(done.meta["threads"].as_u64());
            Ok(())
        })
        .unwrap();
        assert_eq!(threads, [Some(1); 4], "{transport:?}: threads seen by the tasks");
    }
}
