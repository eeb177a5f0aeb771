//! One handler to run, and how its end is reported.

use std::any::Any;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::info::HandlerInfo;
use crate::payload::Payload;
use crate::registry::Taken;
use crate::report;
use crate::statics::Declared;

use super::request;

/// A handler taken out of the registry or claimed from the static slice.
pub(super) struct Job {
    info: HandlerInfo,
    call: Call,
}

enum Call {
    Declared(fn() -> Result<(), String>),
    Registered(Payload),
}

impl Job {
    pub(super) fn declared(declared: &Declared) -> Self {
        Job {
            info: declared.info.clone(),
            call: Call::Declared(declared.run),
        }
    }

    pub(super) fn registered(taken: Taken) -> Self {
        Job {
            info: taken.info,
            call: Call::Registered(taken.payload),
        }
    }

    pub(super) fn info(&self) -> &HandlerInfo {
        &self.info
    }

    /// Runs the handler on this thread and reports how it ended.
    pub(super) fn run(self, trace: bool) {
        let Job { info, call } = self;
        let label = info.label();
        if trace {
            report::line(format_args!("running {label}"));
        }
        // Reading the clock would double the cost of a run of trivial handlers.
        let started = trace.then(Instant::now);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match call {
            Call::Declared(run) => run(),
            Call::Registered(payload) => {
                payload.call();
                Ok(())
            }
        }));
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(message)) => report::line(format_args!("handler {label} failed: {message}")),
            Err(payload) if payload.is::<request::Unwinding>() => {
                if trace {
                    report::line(format_args!("{label} called atexit::exit"));
                }
            }
            Err(payload) => {
                report::line(format_args!(
                    "handler {label} panicked: {}",
                    panic_message(&*payload)
                ));
                drop_panic_payload(payload);
            }
        }
        if let Some(started) = started {
            report::line(format_args!("finished {label} in {:?}", started.elapsed()));
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<a panic payload that is not a string>"
    }
}

/// A payload's destructor may panic too; that second panic must not escape the run.
fn drop_panic_payload(payload: Box<dyn Any + Send>) {
    if let Err(second) = panic::catch_unwind(AssertUnwindSafe(|| drop(payload))) {
        mem::forget(second);
    }
}
