//! One handler to run, and how its end is reported.

use std::any::Any;
use std::mem;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use crate::info::HandlerInfo;
use crate::payload::{Called, Payload};
use crate::registry::Taken;
use crate::report;
#[cfg(feature = "tokio")]
use crate::statics::Reply;
use crate::statics::StaticHandler;

use super::executor::Executor;
use super::request;

/// A handler claimed from the static slice or taken out of the registry.
pub(super) struct Job {
    pub(super) subject: Subject,
    pub(super) call: Call,
}

/// Who the handler is, for reports.
#[derive(Clone)]
pub(super) enum Subject {
    /// Described only when a line is written: asking costs a call.
    Declared(&'static StaticHandler),
    Registered(HandlerInfo),
}

/// What runs the handler.
pub(super) enum Call {
    Declared(&'static StaticHandler),
    Registered(Payload),
}

impl Job {
    pub(super) fn declared(handler: &'static StaticHandler) -> Self {
        Job {
            subject: Subject::Declared(handler),
            call: Call::Declared(handler),
        }
    }

    pub(super) fn registered(taken: Taken) -> Self {
        Job {
            subject: Subject::Registered(taken.info),
            call: Call::Registered(taken.payload),
        }
    }

    /// Whether the handler is async, and so must run on a worker.
    pub(super) fn is_async(&self) -> bool {
        match &self.call {
            Call::Declared(handler) => handler.is_async(),
            Call::Registered(payload) => payload.is_async(),
        }
    }
}

impl Call {
    /// Runs the handler on this thread, async ones on `executor`, and reports how it
    /// ended.
    pub(super) fn run(self, subject: &Subject, trace: bool, executor: &mut Executor) {
        let call = self;
        let traced = trace.then(|| subject.info());
        if let Some(info) = &traced {
            report::line(format_args!("running {}", info.label()));
        }
        // Reading the clock would double the cost of a run of trivial handlers.
        let started = trace.then(Instant::now);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| match call {
            Call::Declared(handler) => match handler.run() {
                #[cfg(feature = "tokio")]
                Reply::Started(future) => executor.block_on(*future).and_then(|outcome| outcome),
                reply => reply.into_outcome(),
            },
            Call::Registered(payload) => match payload.call() {
                Called::Done => Ok(()),
                #[cfg(feature = "tokio")]
                Called::Future(future) => executor.block_on(future),
            },
        }));
        if outcome.is_err() {
            executor.after_panic();
        }
        if !matches!(outcome, Ok(Ok(()))) {
            report_end(subject, traced.as_ref(), outcome);
        }
        if let (Some(info), Some(started)) = (&traced, started) {
            report::line(format_args!(
                "finished {} in {:?}",
                info.label(),
                started.elapsed()
            ));
        }
    }
}

/// Runs a static handler that is not async, where nothing watches or traces the
/// run: the common case, kept to a call and a check.
#[inline]
pub(super) fn run_declared(handler: &'static StaticHandler) {
    let outcome = panic::catch_unwind(|| handler.run().into_outcome());
    if !matches!(outcome, Ok(Ok(()))) {
        report_end(&Subject::Declared(handler), None, outcome);
    }
}

/// Reports a handler that did not end well: failed, panicked, or (traced) called
/// `atexit::exit`.
#[cold]
fn report_end(
    subject: &Subject,
    traced: Option<&HandlerInfo>,
    outcome: std::thread::Result<Result<(), String>>,
) {
    let info = || match traced {
        Some(info) => info.clone(),
        None => subject.info(),
    };
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(message)) => {
            report::line(format_args!("handler {} failed: {message}", info().label()));
        }
        Err(payload) if payload.is::<request::Unwinding>() => {
            if let Some(info) = traced {
                report::line(format_args!("{} called atexit::exit", info.label()));
            }
        }
        Err(payload) => {
            report::line(format_args!(
                "handler {} panicked: {}",
                info().label(),
                panic_message(&*payload)
            ));
            drop_panic_payload(payload);
        }
    }
}

impl Subject {
    pub(super) fn info(&self) -> HandlerInfo {
        match self {
            Subject::Declared(handler) => handler.info(),
            Subject::Registered(info) => info.clone(),
        }
    }
}

pub(super) fn panic_message(payload: &(dyn Any + Send)) -> &str {
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
