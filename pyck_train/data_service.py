r"""Start a tf.data service dispatcher or worker, for `python -m pyck_train --data_service=grpc://HOST:PORT`.

    python -m pyck_train.data_service dispatcher --port=5050 [--work_dir=SHARED/dispatcher]
    python -m pyck_train.data_service worker --port=5051 --dispatcher=HOST:5050 [--worker_address=HOST:5051]

The dispatcher hands each training epoch's record files out to the workers; the workers read,
decode, prepare, augment and batch them and stream the batches to the trainer. Run one dispatcher
and as many workers as the input needs, on CPU machines that can read the data_dir (same path, or
shared storage). Each process serves until it is stopped (Ctrl-C).
"""

from __future__ import annotations

import sys

from absl import app, flags

from pyck_tfds.console import quiet_python_logs, quiet_tensorflow

FLAGS = flags.FLAGS
flags.DEFINE_integer("port", None, "Port to serve on (0: any free one, printed at start).", lower_bound=0)
flags.DEFINE_string("dispatcher", None, "worker: the dispatcher's HOST:PORT.")
flags.DEFINE_string("worker_address", None, "worker: HOST:PORT the dispatcher gives out for it (default: "
                    "localhost:PORT, right when trainer and worker share a machine).")
flags.DEFINE_string("work_dir", None, "dispatcher: folder for its journal, so a restarted dispatcher resumes its "
                    "jobs (fault-tolerant mode); none by default.")
flags.adopt_module_key_flags(sys.modules[__name__])
ROLES = ("dispatcher", "worker")


def start_dispatcher(port: int, work_dir: str | None = None):
    import tensorflow as tf

    config = tf.data.experimental.service.DispatcherConfig(
        port=port, work_dir=work_dir, fault_tolerant_mode=work_dir is not None)
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(port: int, dispatcher: str, worker_address: str | None = None):
    import tensorflow as tf

    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=dispatcher, port=port, worker_address=worker_address or f"localhost:{port}")
    return tf.data.experimental.service.WorkerServer(config)


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[1] not in ROLES:
        raise app.UsageError(f"expected one role, {' or '.join(ROLES)}: python -m pyck_train.data_service "
                             "dispatcher|worker --port=PORT")
    if FLAGS.port is None:
        raise app.UsageError("--port is required")
    if argv[1] == "worker" and not FLAGS.dispatcher:
        raise app.UsageError("a worker needs --dispatcher=HOST:PORT")
    quiet_tensorflow()
    quiet_python_logs()
    if argv[1] == "dispatcher":
        server = start_dispatcher(FLAGS.port, FLAGS.work_dir)
        print(f"tf.data service dispatcher at {server.target} (give trainers --data_service={server.target})",
              flush=True)
    else:
        server = start_worker(FLAGS.port, FLAGS.dispatcher, FLAGS.worker_address)
        print(f"tf.data service worker on port {FLAGS.port}, serving {FLAGS.dispatcher}", flush=True)
    try:
        server.join()
    except KeyboardInterrupt:
        print(f"{argv[1]} stopped", file=sys.stderr)


if __name__ == "__main__":
    app.run(main)
