//! The graceful stop: a caught signal first asks the program to stop, the program
//! finishes its work, and the exit handlers run after it; the process still dies by
//! the signal. Each test runs a fixture (`tests/support/examples/graceful.rs`, or
//! `examples/graceful_server.rs`) and bounds it in time.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{command, exit_with};

/// A fixture started with its output read line by line as it comes.
struct Program {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

/// How a fixture ended.
struct Ended {
    lines: Vec<String>,
    stderr: String,
    status: ExitStatus,
}

impl Ended {
    #[cfg(unix)]
    fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.signal()
    }

    #[cfg(unix)]
    fn has(&self, line: &str) -> bool {
        self.lines.iter().any(|seen| seen == line)
    }
}

impl Program {
    fn start(command: &mut Command) -> Program {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the fixture starts");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send_line, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines() {
                let Ok(line) = line else { break };
                if send_line.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stderr_pipe = child.stderr.take().unwrap();
        let (send_stderr, stderr) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            let _ = send_stderr.send(text);
        });
        Program {
            child,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Reads stdout until `line`, within 20 s; fails the test otherwise.
    #[cfg(unix)]
    fn wait_for(&mut self, line: &str) {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            match self
                .lines
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(seen) => {
                    let found = seen == line;
                    self.seen.push(seen);
                    if found {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!("no line {line:?}; got {:?}", self.seen);
                }
            }
        }
    }

    #[cfg(unix)]
    fn send(&self, signal: libc::c_int) {
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's,
        // which has not been waited for, so it cannot have been reused.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, signal) }, 0);
    }

    /// Waits for the end, within `limit`; kills the fixture and fails the test
    /// otherwise.
    fn finish(mut self, limit: Duration) -> Ended {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the fixture did not end within {limit:?}: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let read_by = Instant::now() + Duration::from_secs(5);
        while let Ok(line) = self
            .lines
            .recv_timeout(read_by.saturating_duration_since(Instant::now()))
        {
            self.seen.push(line);
        }
        let stderr = self
            .stderr
            .recv_timeout(Duration::from_secs(5))
            .expect("stderr is read");
        Ended {
            lines: self.seen,
            stderr,
            status,
        }
    }
}

fn graceful(mode: &str, grace_ms: Option<&str>) -> Command {
    let mut command = command("graceful");
    command.arg(mode).env_remove("ATEXIT_GRACE_MS");
    if let Some(grace) = grace_ms {
        command.env("ATEXIT_GRACE_MS", grace);
    }
    command
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn request_stop_wakes_the_waiters_without_any_signal() {
    let run = Program::start(&mut graceful("in-process", None)).finish(LIMIT);
    assert_eq!(
        run.lines,
        [
            "waiter: woke",
            "main: stopped by request_stop(), exiting=false",
            &format!(
                "handler: reason=Some({}) request=Some(Program)",
                exit_with(0)
            ),
        ]
    );
    assert_eq!(run.status.code(), Some(0));
    assert_eq!(run.stderr, "");
}

#[test]
#[cfg(all(unix, feature = "tokio"))]
fn a_server_finishes_its_requests_then_the_handler_runs_then_it_dies_by_sigterm() {
    use std::io::Write;
    use std::net::TcpStream;

    let mut server = Program::start(&mut command("graceful_server"));
    let listening = loop {
        match server.lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => {
                server.seen.push(line.clone());
                if let Some(address) = line.strip_prefix("listening on ") {
                    break address.to_owned();
                }
            }
            Err(_) => panic!("the server did not listen: {:?}", server.seen),
        }
    };
    let mut request = TcpStream::connect(&listening).expect("the server accepts");
    request.write_all(b"slow\n").unwrap();
    server.wait_for("request started: slow");
    let signalled = Instant::now();
    server.send(libc::SIGTERM);
    server.wait_for("stop requested (signal 15): not accepting any more");
    let refused = TcpStream::connect(&listening);
    assert!(
        refused.is_err(),
        "a connection after the stop request was accepted"
    );
    let mut response = String::new();
    request.read_to_string(&mut response).unwrap();
    assert_eq!(response, "first half\nsecond half\n", "the full response");
    let run = server.finish(LIMIT);
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "the server did not wait for the grace of 20 s"
    );
    let after_listening: Vec<&str> = run.lines[1..].iter().map(String::as_str).collect();
    assert_eq!(
        after_listening,
        [
            "request started: slow",
            "stop requested (signal 15): not accepting any more",
            "request finished: slow",
            "main: every request finished, returning",
            "on_exit: closing the pool after main returned (Some(Signal(15)))",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
    assert_eq!(run.stderr, "");
}

#[test]
#[cfg(unix)]
fn a_worker_thread_finishes_its_job_after_sigint_before_the_handlers_run() {
    let mut program = Program::start(&mut graceful("worker", Some("10000")));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGINT);
    let run = program.finish(LIMIT);
    assert_eq!(
        run.lines,
        [
            "ready",
            "worker: stop requested, finishing the job",
            "worker: job done",
            "main: worker joined, returning",
            "handler: reason=Some(Signal(2)) request=Some(Signal(2))",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGINT));
    assert!(
        signalled.elapsed() < Duration::from_secs(8),
        "not the grace"
    );
    assert_eq!(run.stderr, "");
}

#[test]
#[cfg(unix)]
fn when_the_grace_passes_the_handlers_run_and_the_process_dies_by_the_signal() {
    let mut program = Program::start(&mut graceful("ignore", Some("700")));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    let took = signalled.elapsed();
    assert_eq!(
        run.lines,
        [
            "ready",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
    assert!(
        took >= Duration::from_millis(700),
        "before the grace: {took:?}"
    );
    assert!(took < Duration::from_millis(700 + 3000), "took {took:?}");
}

#[test]
#[cfg(unix)]
fn set_stop_grace_none_overrides_the_variable() {
    let mut program = Program::start(&mut graceful("no-grace-set", Some("20000")));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    assert!(
        signalled.elapsed() < Duration::from_secs(10),
        "waited for the variable's grace"
    );
    assert_eq!(
        run.lines,
        [
            "ready",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn a_second_signal_during_the_grace_runs_the_handlers_now_as_the_first() {
    let mut program = Program::start(&mut graceful("slow-handler", Some("20000")));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGTERM);
    program.wait_for("stop requested");
    program.send(libc::SIGINT);
    let run = program.finish(LIMIT);
    assert!(run.has("slow handler finished"), "{:?}", run.lines);
    assert!(
        run.has("handler: reason=Some(Signal(15)) request=Some(Signal(15))"),
        "{:?}",
        run.lines
    );
    assert_eq!(
        run.signal(),
        Some(libc::SIGTERM),
        "the first signal's death"
    );
    assert!(
        signalled.elapsed() < Duration::from_secs(15),
        "not the grace"
    );
}

#[test]
#[cfg(unix)]
fn a_third_signal_during_the_handler_run_ends_the_process_at_once() {
    let mut program = Program::start(&mut graceful("slow-handler", Some("20000")));
    program.wait_for("ready");
    program.send(libc::SIGTERM);
    program.wait_for("stop requested");
    program.send(libc::SIGINT);
    program.wait_for("slow handler started");
    program.send(libc::SIGHUP);
    let run = program.finish(LIMIT);
    assert_eq!(run.signal(), Some(libc::SIGHUP));
    assert!(!run.has("slow handler finished"), "{:?}", run.lines);
}

#[test]
#[cfg(unix)]
fn request_stop_exits_nothing_and_a_later_signal_keeps_it_but_starts_the_grace() {
    let mut program = Program::start(&mut graceful("program", None));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    let took = signalled.elapsed();
    assert_eq!(
        run.lines,
        [
            "waiter woke: Some(Program)",
            "still running: exiting=false requested=true",
            "ready",
            "handler: reason=Some(Signal(15)) request=Some(Program)",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
    assert!(took >= Duration::from_millis(300), "no grace: {took:?}");
}

/// Starts `mode` with a long grace, sends SIGTERM once it is ready.
#[cfg(unix)]
fn stopped_by_sigterm(mode: &str) -> Ended {
    let mut program = Program::start(&mut graceful(mode, Some("20000")));
    program.wait_for("ready");
    program.send(libc::SIGTERM);
    program.finish(LIMIT)
}

#[test]
#[cfg(unix)]
fn returning_from_main_after_the_stop_dies_by_the_signal_after_the_handlers() {
    let run = stopped_by_sigterm("return");
    assert_eq!(
        run.lines,
        [
            "ready",
            "main: stopping",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn atexit_exit_after_the_stop_exits_with_its_code() {
    let run = stopped_by_sigterm("exit-3");
    assert_eq!(
        run.lines,
        [
            "ready",
            "main: stopping",
            &format!(
                "handler: reason=Some({}) request=Some(Signal(15))",
                exit_with(3)
            ),
        ]
    );
    assert_eq!(run.status.code(), Some(3));
}

#[test]
#[cfg(unix)]
fn std_process_exit_after_the_stop_dies_by_the_signal() {
    let run = stopped_by_sigterm("process-exit-4");
    assert_eq!(
        run.lines,
        [
            "ready",
            "main: stopping",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn a_panic_in_main_after_the_stop_stays_a_panic() {
    let run = stopped_by_sigterm("panic");
    assert_eq!(
        run.lines,
        [
            "ready",
            "main: stopping",
            "handler: reason=Some(Panic) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.status.code(), Some(101));
    assert!(
        run.stderr.contains("main panics while stopping"),
        "{}",
        run.stderr
    );
}

#[test]
#[cfg(unix)]
fn atexit_exit_in_a_handler_after_the_stop_decides_status_and_reason() {
    let run = stopped_by_sigterm("handler-exit");
    assert_eq!(
        run.lines,
        [
            "ready",
            "first handler: Some(Signal(15))",
            "second handler: Some(Exit(5))",
            "handler: reason=Some(Exit(5)) request=Some(Signal(15))",
        ]
    );
    assert_eq!(run.status.code(), Some(5));
}

#[test]
#[cfg(unix)]
fn stopping_completes_in_a_plain_block_on_made_before_and_after_the_request() {
    let run = stopped_by_sigterm("block-on");
    assert_eq!(
        run.lines,
        [
            "ready",
            "made before: completed, Some(Signal(15))",
            "made after: completed",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn with_no_grace_the_waiters_wake_before_the_handlers_run() {
    let mut program = Program::start(&mut graceful("woken", None));
    program.wait_for("ready");
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    assert_eq!(
        run.lines,
        [
            "ready",
            "handler: the waiter had woken: true",
            "handler: reason=Some(Signal(15)) request=Some(Signal(15))",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

/// `timeout` sends its signal to the process, then to its process group: two copies
/// close together. Copies sent while the first is still pending merge into one
/// delivery, so the second goes once the first was surely delivered, well within
/// the 100 ms that make them one signal.
#[cfg(unix)]
fn send_twice_as_timeout_does(program: &Program, signal: libc::c_int) {
    let pid = program.child.id() as i32;
    // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, and
    // its own process group (it was started with `process_group(0)`).
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    std::thread::sleep(Duration::from_millis(20));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(-pid, signal) }, 0);
}

#[test]
#[cfg(unix)]
fn two_copies_of_sigterm_as_timeout_sends_them_run_the_handlers_fully() {
    use std::os::unix::process::CommandExt;
    for _ in 0..3 {
        let mut program = Program::start(graceful("slow-handler", None).process_group(0));
        program.wait_for("ready");
        send_twice_as_timeout_does(&program, libc::SIGTERM);
        let run = program.finish(LIMIT);
        assert!(run.has("slow handler finished"), "{:?}", run.lines);
        assert!(
            run.has("handler: reason=Some(Signal(15)) request=Some(Signal(15))"),
            "{:?}",
            run.lines
        );
        assert_eq!(run.signal(), Some(libc::SIGTERM));
    }
}

#[test]
#[cfg(unix)]
fn two_copies_of_sigterm_during_the_grace_count_as_one_signal() {
    use std::os::unix::process::CommandExt;
    let mut program = Program::start(graceful("slow-handler", Some("1000")).process_group(0));
    program.wait_for("ready");
    let signalled = Instant::now();
    send_twice_as_timeout_does(&program, libc::SIGTERM);
    program.wait_for("slow handler started");
    let waited = signalled.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "the copy ended the grace: the handlers started after {waited:?}"
    );
    let run = program.finish(LIMIT);
    assert!(run.has("slow handler finished"), "{:?}", run.lines);
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn a_bad_grace_variable_is_reported_once_and_ignored() {
    let mut program = Program::start(&mut graceful("ignore", Some("soon")));
    program.wait_for("ready");
    let signalled = Instant::now();
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    assert_eq!(
        run.stderr,
        "atexit: ignoring ATEXIT_GRACE_MS=\"soon\": not a whole number of milliseconds\n"
    );
    assert!(run.has("handler: reason=Some(Signal(15)) request=Some(Signal(15))"));
    assert!(signalled.elapsed() < Duration::from_secs(10));
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn the_trace_logs_the_request_and_the_grace_passing() {
    let mut program = Program::start(graceful("ignore", Some("300")).env("ATEXIT_TRACE", "1"));
    program.wait_for("ready");
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    let reports: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains("stop"))
        .collect();
    assert_eq!(
        reports,
        [
            "atexit: stop requested: signal 15",
            "atexit: the stop grace of 300 ms passed: the exit handlers run now",
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGTERM));
}

#[test]
#[cfg(unix)]
fn with_panic_abort_a_panic_in_main_after_the_stop_still_aborts() {
    let fixture = common::build_example_apart(
        "graceful-panic-abort",
        "graceful",
        &[],
        &[("CARGO_PROFILE_DEV_PANIC", "abort")],
    );
    let mut command = common::command_for(&fixture);
    command.arg("panic").env("ATEXIT_GRACE_MS", "20000");
    let mut program = Program::start(&mut command);
    program.wait_for("ready");
    program.send(libc::SIGTERM);
    let run = program.finish(LIMIT);
    assert_eq!(
        run.lines,
        [
            "ready",
            "main: stopping",
            "handler: reason=Some(Panic) request=Some(Signal(15))"
        ]
    );
    assert_eq!(run.signal(), Some(libc::SIGABRT));
}
