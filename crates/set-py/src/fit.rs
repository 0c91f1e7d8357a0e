//! Training from Python: the run goes on a thread of its own; the calling thread waits without
//! the GIL, hands progress events to a Python callable, and checks for Ctrl-C between waits
//! (Python runs signal handlers only on its main thread, and only when asked). A stop request
//! ends training at the next step; the caller's estimator is untouched unless training
//! finishes.

use crate::errors::{panic_text, train_error};
use crate::model::{Model, split_ids};
use crate::settings::Settings;
use crate::vocab::Vocabulary;
use numpy::PyReadonlyArray1;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use set_train::set_data::Example;
use set_train::{
    EpochEvent, InMemoryData, ModelBundle, Observer, ObserverError, Outcome, RunControl, RunData,
    StepEvent, StopFlag, TrainError, Trainer,
};
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

/// How often the waiting thread looks for Ctrl-C.
const POLL: Duration = Duration::from_millis(50);
/// How long an interrupted `fit` waits for the training thread to reach its next step.
const STOP_GRACE: Duration = Duration::from_millis(800);
/// Least time between two step events.
const STEP_EVERY: Duration = Duration::from_millis(100);

/// What the training thread reports.
enum Event {
    Data {
        train: usize,
        dev: usize,
        vocab: usize,
        classes: usize,
    },
    EpochStart {
        epoch: usize,
        epochs: usize,
        batches: usize,
    },
    Step {
        epoch: usize,
        step: usize,
        batches: usize,
        loss: f64,
    },
    Epoch(Box<EpochEvent>),
    Done(Box<Result<ModelBundle, String>>, Option<TrainError>),
}

/// Where the examples come from.
enum Source {
    Texts(InMemoryData),
    Tokens {
        train: Vec<set_train::set_data::EncodedExample>,
        dev: Option<Vec<set_train::set_data::EncodedExample>>,
        class_names: Vec<String>,
        vocab: set_train::set_data::Vocab,
    },
}

struct Forward {
    tx: Sender<Event>,
    epochs: usize,
    last_step: Instant,
}

impl Observer for Forward {
    fn on_epoch_start(&mut self, epoch: usize, batches: usize, _done: usize) {
        let _ = self.tx.send(Event::EpochStart {
            epoch,
            epochs: self.epochs,
            batches,
        });
    }

    fn on_step(&mut self, e: &StepEvent) -> Result<(), ObserverError> {
        if self.last_step.elapsed() >= STEP_EVERY || e.step_in_epoch == e.batches {
            self.last_step = Instant::now();
            let _ = self.tx.send(Event::Step {
                epoch: e.epoch,
                step: e.step_in_epoch,
                batches: e.batches,
                loss: e.stats.loss,
            });
        }
        Ok(())
    }

    fn on_epoch(&mut self, e: &EpochEvent) -> Result<(), ObserverError> {
        let _ = self.tx.send(Event::Epoch(Box::new(e.clone())));
        Ok(())
    }
}

/// The whole run, on the training thread.
fn train(
    settings: Settings,
    source: Source,
    front_end: serde_json::Value,
    stop: StopFlag,
    tx: &Sender<Event>,
) -> Result<Option<ModelBundle>, TrainError> {
    // The dev split's seed: `split_seed` when given, else the model seed.
    let seed = settings.split_seed.unwrap_or(settings.trainer.seed);
    let data = match source {
        Source::Texts(d) => RunData::from_texts(d, seed, None)?,
        Source::Tokens {
            train,
            dev,
            class_names,
            vocab,
        } => RunData::from_encoded(train, dev, class_names, settings.dev_fraction, seed, vocab)?,
    };
    let _ = tx.send(Event::Data {
        train: data.splits.train.len(),
        dev: data.splits.dev.len(),
        vocab: data.vocab.len(),
        classes: data.num_classes(),
    });
    let spec = settings.spec(data.vocab.len(), data.num_classes());
    let mut trainer = Trainer::new(spec, settings.trainer.clone(), &data)?
        .with_threads(settings.threads)
        .with_control(RunControl {
            stop,
            ..RunControl::default()
        });
    trainer.state_mut().front_end = Some(front_end);
    let mut obs = Forward {
        tx: tx.clone(),
        epochs: settings.trainer.epochs,
        last_step: Instant::now(),
    };
    match trainer.fit(&data, &mut obs)? {
        Outcome::Finished => Ok(Some(trainer.bundle(&data.vocab))),
        Outcome::Interrupted { .. } | Outcome::Stopped { .. } => Ok(None),
    }
}

fn epoch_dict<'py>(py: Python<'py>, e: &EpochEvent) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("epoch", e.epoch + 1)?;
    d.set_item("epochs", e.epochs)?;
    d.set_item("train_loss", e.train.loss)?;
    d.set_item("train_accuracy", e.train.accuracy)?;
    d.set_item("dev_loss", e.dev.map(|s| s.loss))?;
    d.set_item("dev_accuracy", e.dev.map(|s| s.accuracy))?;
    d.set_item("best_dev", e.best_dev)?;
    d.set_item("params", e.params)?;
    d.set_item("density", e.density)?;
    d.set_item("train_seconds", e.train_ms as f64 / 1000.0)?;
    let ev = e.evolution.as_ref();
    d.set_item("zeta", ev.map(|r| r.zeta))?;
    d.set_item("pruned", ev.map(|r| r.total_removed))?;
    d.set_item("regrown", ev.map(|r| r.total_added))?;
    d.set_item("itop_rate", ev.map(|r| r.itop_rate))?;
    Ok(d)
}

/// Runs training on its own thread and waits for it (see the module docs).
fn run(
    py: Python<'_>,
    settings: Settings,
    source: Source,
    front_end: &str,
    on_event: Option<Bound<'_, PyAny>>,
) -> PyResult<Model> {
    let front_end: serde_json::Value = serde_json::from_str(front_end)
        .map_err(|e| PyValueError::new_err(format!("front_end is not JSON: {e}")))?;
    let stop = StopFlag::default();
    let (tx, rx) = channel();
    // `Receiver` is not `Sync`; the waits below borrow it from threads without the GIL.
    let rx = Mutex::new(rx);
    let thread_stop = stop.clone();
    std::thread::Builder::new()
        .name("set-lstm-fit".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                train(settings, source, front_end, thread_stop, &tx)
            }));
            let msg = match r {
                Ok(Ok(Some(b))) => Event::Done(Box::new(Ok(b)), None),
                Ok(Ok(None)) => Event::Done(Box::new(Err("training was stopped".into())), None),
                Ok(Err(e)) => Event::Done(Box::new(Err(String::new())), Some(e)),
                Err(p) => Event::Done(
                    Box::new(Err(format!(
                        "training: internal error: {}",
                        panic_text(&*p)
                    ))),
                    None,
                ),
            };
            let _ = tx.send(msg);
        })
        .map_err(|e| PyRuntimeError::new_err(format!("starting the training thread: {e}")))?;
    loop {
        let got = py.detach(|| recv(&rx, POLL));
        let event_result = match got {
            Ok(Event::Done(done, err)) => {
                return match (*done, err) {
                    (Ok(bundle), _) => Ok(Model::new(bundle)),
                    (Err(_), Some(e)) => Err(train_error(e)),
                    (Err(m), None) => Err(PyRuntimeError::new_err(m)),
                };
            }
            Ok(event) => match &on_event {
                Some(cb) => send(py, cb, event),
                None => Ok(()),
            },
            Err(RecvTimeoutError::Timeout) => Ok(()),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "the training thread ended without a result",
                ));
            }
        };
        // A callback's exception or Ctrl-C (`KeyboardInterrupt`): stop, and raise it.
        if let Err(e) = event_result.and_then(|()| py.check_signals()) {
            stop.request();
            wait_for_stop(py, &rx);
            return Err(e);
        }
    }
}

/// Gives the training thread a moment to see the stop request and end; it is left to finish
/// on its own after that (it stops at its next step and sends to a closed channel).
fn wait_for_stop(py: Python<'_>, rx: &Mutex<Receiver<Event>>) {
    let deadline = Instant::now() + STOP_GRACE;
    py.detach(|| {
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match recv(rx, left) {
                Ok(Event::Done(..)) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
}

fn recv(rx: &Mutex<Receiver<Event>>, timeout: Duration) -> Result<Event, RecvTimeoutError> {
    rx.lock()
        .unwrap_or_else(|e| e.into_inner())
        .recv_timeout(timeout)
}

fn send(py: Python<'_>, cb: &Bound<'_, PyAny>, event: Event) -> PyResult<()> {
    let d = PyDict::new(py);
    let kind = match event {
        Event::Data {
            train,
            dev,
            vocab,
            classes,
        } => {
            d.set_item("train", train)?;
            d.set_item("dev", dev)?;
            d.set_item("vocab", vocab)?;
            d.set_item("classes", classes)?;
            "data"
        }
        Event::EpochStart {
            epoch,
            epochs,
            batches,
        } => {
            d.set_item("epoch", epoch + 1)?;
            d.set_item("epochs", epochs)?;
            d.set_item("batches", batches)?;
            "epoch_start"
        }
        Event::Step {
            epoch,
            step,
            batches,
            loss,
        } => {
            d.set_item("epoch", epoch + 1)?;
            d.set_item("step", step)?;
            d.set_item("batches", batches)?;
            d.set_item("loss", loss)?;
            "step"
        }
        Event::Epoch(e) => {
            cb.call1(("epoch", epoch_dict(py, &e)?))?;
            return Ok(());
        }
        Event::Done(..) => return Ok(()),
    };
    cb.call1((kind, d))?;
    Ok(())
}

fn usizes(labels: Vec<i64>, what: &str) -> PyResult<Vec<usize>> {
    labels
        .into_iter()
        .map(|l| {
            usize::try_from(l)
                .map_err(|_| PyValueError::new_err(format!("{what}: negative class index {l}")))
        })
        .collect()
}

fn examples(texts: Vec<String>, labels: Vec<i64>, what: &str) -> PyResult<Vec<Example>> {
    if texts.len() != labels.len() {
        return Err(PyValueError::new_err(format!(
            "{what}: {} texts but {} labels",
            texts.len(),
            labels.len()
        )));
    }
    Ok(texts
        .into_iter()
        .zip(usizes(labels, what)?)
        .map(|(text, label)| Example { label, text })
        .collect())
}

/// Trains on texts with class indices `labels` (`0..len(class_names)`); `dev` is
/// `(texts, labels)` or `None` (then `dev_fraction` of train is held out, as `set-lstm train`
/// does). `on_event(kind, dict)` is called on this thread with `"data"`, `"epoch_start"`,
/// `"step"` and `"epoch"` events; an exception from it stops training and is raised.
#[pyfunction]
#[pyo3(signature = (settings, texts, labels, dev, class_names, front_end, on_event = None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_texts(
    py: Python<'_>,
    settings: &Bound<'_, PyDict>,
    texts: Vec<String>,
    labels: Vec<i64>,
    dev: Option<(Vec<String>, Vec<i64>)>,
    class_names: Vec<String>,
    front_end: &str,
    on_event: Option<Bound<'_, PyAny>>,
) -> PyResult<Model> {
    let settings = Settings::from_dict(settings)?;
    let train = examples(texts, labels, "train")?;
    let dev = dev.map(|(t, l)| examples(t, l, "dev")).transpose()?;
    let data = InMemoryData {
        train,
        dev,
        class_names,
        dev_fraction: settings.dev_fraction,
        vocab_size: settings.vocab_size,
        min_count: settings.min_count,
    };
    run(py, settings, Source::Texts(data), front_end, on_event)
}

/// Trains on token ids: `ids` (`uint32`) concatenates every example's ids, `offsets` (`int64`,
/// `n + 1`) marks where each starts and ends; ids index `vocab`. `dev` is
/// `(ids, offsets, labels)` or `None`. Otherwise as `fit_texts`.
#[pyfunction]
#[pyo3(signature = (settings, ids, offsets, labels, dev, vocab, class_names, front_end, on_event = None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_tokens<'py>(
    py: Python<'py>,
    settings: &Bound<'py, PyDict>,
    ids: PyReadonlyArray1<'py, u32>,
    offsets: PyReadonlyArray1<'py, i64>,
    labels: Vec<i64>,
    dev: Option<(
        PyReadonlyArray1<'py, u32>,
        PyReadonlyArray1<'py, i64>,
        Vec<i64>,
    )>,
    vocab: &Vocabulary,
    class_names: Vec<String>,
    front_end: &str,
    on_event: Option<Bound<'py, PyAny>>,
) -> PyResult<Model> {
    let settings = Settings::from_dict(settings)?;
    let n = vocab.inner.len();
    let train = encoded(&ids, &offsets, labels, n, "train")?;
    let dev = match dev {
        Some((i, o, l)) => Some(encoded(&i, &o, l, n, "dev")?),
        None => None,
    };
    let source = Source::Tokens {
        train,
        dev,
        class_names,
        vocab: vocab.inner.clone(),
    };
    run(py, settings, source, front_end, on_event)
}

/// Labelled examples from concatenated ids, offsets and labels.
fn encoded(
    ids: &PyReadonlyArray1<'_, u32>,
    offsets: &PyReadonlyArray1<'_, i64>,
    labels: Vec<i64>,
    vocab_len: usize,
    what: &str,
) -> PyResult<Vec<set_train::set_data::EncodedExample>> {
    let mut ex = split_ids(ids, offsets, vocab_len, <[u32]>::to_vec)?;
    if ex.len() != labels.len() {
        return Err(PyValueError::new_err(format!(
            "{what}: {} examples but {} labels",
            ex.len(),
            labels.len()
        )));
    }
    for (e, l) in ex.iter_mut().zip(usizes(labels, what)?) {
        e.label = l;
    }
    Ok(ex)
}
